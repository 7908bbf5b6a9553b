with

workflow_jobs as (

    select
        job_id,
        steps
    from {{ ref('stg_github__workflow_jobs') }}

),

unnested as (

    select
        workflow_jobs.job_id,
        step
    from workflow_jobs
    {{ json_array_elements('workflow_jobs.steps', 'step') }}

),

renamed as (

    select
        job_id,
        {{ dbt.safe_cast(json_text('step', '$.number'), dbt.type_bigint()) }} as step_number,
        {{ json_text('step', '$.name') }} as step_name,
        {{ json_text('step', '$.status') }} as status,
        {{ json_text('step', '$.conclusion') }} as conclusion,
        {{ iso_timestamp(json_text('step', '$.started_at')) }} as started_at,
        {{ iso_timestamp(json_text('step', '$.completed_at')) }} as completed_at
    from unnested

),

timed as (

    select
        {{ dbt.concat([
            dbt.safe_cast('job_id', dbt.type_string()),
            "'-'",
            dbt.safe_cast('step_number', dbt.type_string()),
        ]) }} as job_step_id,
        job_id,
        step_number,
        step_name,
        status,
        conclusion,
        started_at,
        completed_at,
        {{ seconds_between('started_at', 'completed_at') }} as step_seconds
    from renamed

)

select * from timed
