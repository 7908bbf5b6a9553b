{{
    config(
        materialized='incremental',
        unique_key='job_step_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        cluster_by=apoa_cluster_by(['job_id']),
        pre_hook="{{ apoa_delete_rows_of_changed_keys('job_id', ref('stg_github__workflow_jobs'), 'job_id',
            'last_load_seq', 'last_load_seq', 'last_ingested_at', 'last_ingested_at') }}",
    )
}}

{%- set step_paths = {
    'number': '$.number',
    'name': '$.name',
    'status': '$.status',
    'conclusion': '$.conclusion',
    'started_at': '$.started_at',
    'completed_at': '$.completed_at',
} -%}

with

-- jobs whose latest state changed since the last build (all of them on a full build)
workflow_jobs as (

    select
        job_id,
        delivery_id,
        steps,
        last_load_seq,
        last_ingested_at
    from {{ ref('stg_github__workflow_jobs') }}
    {{ apoa_new_rows('last_load_seq', 'last_load_seq', 'last_ingested_at', 'last_ingested_at') }}

),

unnested as (

    {{ json_explode(
        'workflow_jobs', 'steps',
        keep=['job_id', 'delivery_id', 'last_load_seq', 'last_ingested_at'],
        fields=step_paths,
    ) }}

),

renamed as (

    select
        job_id,
        delivery_id,
        last_load_seq,
        last_ingested_at,
        {{ dbt.safe_cast('number', dbt.type_bigint()) }} as step_number,
        name as step_name,
        status,
        conclusion,
        {{ iso_timestamp('started_at') }} as started_at,
        {{ iso_timestamp('completed_at') }} as completed_at
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
        {{ seconds_between('started_at', 'completed_at') }} as step_seconds,
        delivery_id,
        last_load_seq,
        last_ingested_at
    from renamed
    where step_number is not null

)

select * from timed
