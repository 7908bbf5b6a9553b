with

job_runs as (

    select
        job_run_id,
        job_key,
        repository,
        workflow_name,
        job_name,
        runner_labels,
        runner_group_name,
        is_failure,
        is_flaky_attempt,
        created_at
    from {{ ref('fct_job_runs') }}

),

jobs as (

    select
        job_key,
        repository,
        workflow_name,
        job_name,
        -- job ids grow over time: the highest is the latest attempt
        {{ value_at_max('runner_labels', 'job_run_id') }} as latest_runner_labels,
        {{ value_at_max('runner_group_name', 'job_run_id') }} as latest_runner_group_name,
        min(created_at) as first_seen_at,
        max(created_at) as last_seen_at,
        count(*) as job_run_count,
        sum(case when is_failure then 1 else 0 end) as failed_job_run_count,
        sum(case when is_flaky_attempt then 1 else 0 end) as flaky_job_run_count
    from job_runs
    group by job_key, repository, workflow_name, job_name

),

final as (

    select
        job_key,
        {{ surrogate_key(['repository', 'workflow_name']) }} as workflow_key,
        repository,
        workflow_name,
        job_name,
        latest_runner_labels,
        latest_runner_group_name,
        first_seen_at,
        last_seen_at,
        job_run_count,
        failed_job_run_count,
        flaky_job_run_count,
        job_name as cicd_pipeline_task_name
    from jobs

)

select * from final
