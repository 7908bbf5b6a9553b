with

workflow_jobs as (

    select
        job_id,
        run_id,
        run_attempt,
        repository,
        default_branch,
        workflow_name,
        job_name,
        head_branch,
        head_sha,
        status,
        conclusion,
        created_at,
        started_at,
        completed_at,
        runner_name,
        runner_labels,
        html_url
    from {{ ref('stg_github__workflow_jobs') }}
    where status = 'completed'

),

workflow_runs as (

    select
        run_id,
        run_attempt,
        run_number,
        workflow_name,
        event
    from {{ ref('stg_github__workflow_runs') }}

),

workflow_job_steps as (

    select
        job_id,
        step_number,
        step_name,
        step_seconds
    from {{ ref('stg_github__workflow_job_steps') }}

),

ranked_steps as (

    select
        job_id,
        step_name,
        step_seconds,
        row_number() over (
            partition by job_id
            order by step_seconds desc, step_number asc
        ) as step_rank
    from workflow_job_steps
    where step_seconds is not null

),

longest_steps as (

    select
        job_id,
        step_name as longest_step_name,
        step_seconds as longest_step_seconds
    from ranked_steps
    where step_rank = 1

),

joined as (

    select
        workflow_jobs.job_id as job_run_id,
        workflow_jobs.repository,
        -- workflow_name is in job payloads since 2022; older ones get it from their run
        coalesce(workflow_jobs.workflow_name, workflow_runs.workflow_name) as workflow_name,
        workflow_jobs.job_name,
        workflow_jobs.head_branch,
        coalesce(
            workflow_jobs.head_branch = workflow_jobs.default_branch, false
        ) as is_default_branch,
        workflow_runs.event,
        workflow_jobs.run_id,
        workflow_jobs.run_attempt,
        workflow_runs.run_number,
        workflow_jobs.job_id,
        workflow_jobs.head_sha,
        workflow_jobs.runner_name,
        workflow_jobs.runner_labels,
        workflow_jobs.conclusion,
        coalesce(
            workflow_jobs.conclusion in ('failure', 'timed_out'), false
        ) as is_failure,
        workflow_jobs.created_at,
        workflow_jobs.started_at,
        workflow_jobs.completed_at,
        {{ seconds_between('workflow_jobs.created_at', 'workflow_jobs.started_at') }} as queue_seconds,
        {{ seconds_between('workflow_jobs.started_at', 'workflow_jobs.completed_at') }} as duration_seconds,
        workflow_jobs.html_url,
        longest_steps.longest_step_name,
        longest_steps.longest_step_seconds
    from workflow_jobs
    left join workflow_runs
        on
            workflow_jobs.run_id = workflow_runs.run_id
            and workflow_jobs.run_attempt = workflow_runs.run_attempt
    left join longest_steps
        on workflow_jobs.job_id = longest_steps.job_id

),

keyed as (

    select
        job_run_id,
        {{ surrogate_key(['repository', 'workflow_name', 'job_name']) }} as job_key,
        repository,
        workflow_name,
        job_name,
        head_branch,
        is_default_branch,
        event,
        run_id,
        run_attempt,
        run_number,
        job_id,
        head_sha,
        runner_name,
        runner_labels,
        conclusion,
        is_failure,
        created_at,
        started_at,
        completed_at,
        queue_seconds,
        duration_seconds,
        html_url,
        longest_step_name,
        longest_step_seconds
    from joined

)

select * from keyed
