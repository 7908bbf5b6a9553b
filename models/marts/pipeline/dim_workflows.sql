with

workflow_runs as (

    select
        repository,
        workflow_name,
        workflow_id,
        workflow_path,
        run_id,
        created_at
    from {{ ref('stg_github__workflow_runs') }}

),

job_runs as (

    select
        repository,
        workflow_name,
        job_name,
        created_at
    from {{ ref('fct_job_runs') }}

),

from_runs as (

    select
        {{ surrogate_key(['repository', 'workflow_name']) }} as workflow_key,
        repository,
        workflow_name,
        {{ value_at_max('workflow_id', 'case when workflow_id is not null then run_id end') }} as workflow_id,
        {{ value_at_max('workflow_path', 'case when workflow_path is not null then run_id end') }}
            as workflow_path,
        min(created_at) as first_run_at,
        max(created_at) as last_run_at,
        count(distinct run_id) as run_count
    from workflow_runs
    where repository is not null
    group by repository, workflow_name

),

from_jobs as (

    select
        {{ surrogate_key(['repository', 'workflow_name']) }} as workflow_key,
        repository,
        workflow_name,
        min(created_at) as first_job_at,
        max(created_at) as last_job_at,
        count(distinct job_name) as job_count
    from job_runs
    where repository is not null
    group by repository, workflow_name

),

workflows as (

    select
        coalesce(from_runs.workflow_key, from_jobs.workflow_key) as workflow_key,
        coalesce(from_runs.repository, from_jobs.repository) as repository,
        coalesce(from_runs.workflow_name, from_jobs.workflow_name) as workflow_name,
        from_runs.workflow_id,
        from_runs.workflow_path,
        case
            when from_jobs.first_job_at < from_runs.first_run_at or from_runs.first_run_at is null
                then from_jobs.first_job_at
            else from_runs.first_run_at
        end as first_seen_at,
        case
            when from_jobs.last_job_at > from_runs.last_run_at or from_runs.last_run_at is null
                then from_jobs.last_job_at
            else from_runs.last_run_at
        end as last_seen_at,
        coalesce(from_runs.run_count, 0) as run_count,
        coalesce(from_jobs.job_count, 0) as job_count
    from from_runs
    full outer join from_jobs
        on from_runs.workflow_key = from_jobs.workflow_key

),

final as (

    select
        workflow_key,
        repository,
        workflow_name,
        workflow_id,
        workflow_path,
        first_seen_at,
        last_seen_at,
        run_count,
        job_count,
        workflow_name as cicd_pipeline_name
    from workflows

)

select * from final
