{{
    config(
        partition_by=apoa_partition_by('day', data_type='date'),
        cluster_by=apoa_cluster_by(['repository', 'workflow_name']),
    )
}}

with

workflow_runs as (

    select
        run_attempt_id,
        repository,
        workflow_name,
        conclusion,
        is_failure,
        is_rerun,
        is_default_branch,
        completed_at,
        duration_seconds
    from {{ ref('fct_workflow_runs') }}

),

job_runs as (

    select
        repository,
        workflow_name,
        completed_at,
        queue_seconds,
        is_flaky_attempt
    from {{ ref('fct_job_runs') }}

),

run_days as (

    select
        {{ surrogate_key(['repository', 'workflow_name', 'cast(completed_at as date)']) }} as pipeline_day_id,
        repository,
        workflow_name,
        cast(completed_at as date) as day,
        count(*) as runs,
        sum(case when is_failure then 1 else 0 end) as failed_runs,
        sum(case when conclusion = 'cancelled' then 1 else 0 end) as cancelled_runs,
        sum(case when is_rerun then 1 else 0 end) as reruns,
        {{ percentile('duration_seconds', 0.5) }} as duration_p50_seconds,
        {{ percentile('duration_seconds', 0.95) }} as duration_p95_seconds
    from workflow_runs
    group by repository, workflow_name, cast(completed_at as date)

),

job_days as (

    select
        {{ surrogate_key(['repository', 'workflow_name', 'cast(completed_at as date)']) }} as pipeline_day_id,
        repository,
        workflow_name,
        cast(completed_at as date) as day,
        count(*) as job_runs,
        sum(case when is_flaky_attempt then 1 else 0 end) as flaky_job_runs,
        {{ percentile('queue_seconds', 0.5) }} as queue_p50_seconds,
        {{ percentile('queue_seconds', 0.95) }} as queue_p95_seconds
    from job_runs
    group by repository, workflow_name, cast(completed_at as date)

),

-- red streaks on the default branch: from the first failed run attempt after a success to
-- the next successful one (cancelled and skipped runs neither break nor end a streak)
default_branch_verdicts as (

    select
        repository,
        workflow_name,
        run_attempt_id,
        completed_at,
        conclusion = 'success' as is_success,
        lag(conclusion = 'success') over (
            partition by repository, workflow_name
            order by completed_at asc, run_attempt_id asc
        ) as previous_is_success
    from workflow_runs
    where is_default_branch and conclusion in ('success', 'failure', 'timed_out')

),

streak_marks as (

    select
        repository,
        workflow_name,
        run_attempt_id,
        completed_at,
        is_success,
        previous_is_success,
        max(
            case when not is_success and coalesce(previous_is_success, true) then completed_at end
        ) over (
            partition by repository, workflow_name
            order by completed_at asc, run_attempt_id asc
            rows between unbounded preceding and current row
        ) as streak_started_at
    from default_branch_verdicts

),

restores as (

    select
        {{ surrogate_key(['repository', 'workflow_name', 'cast(completed_at as date)']) }} as pipeline_day_id,
        repository,
        workflow_name,
        cast(completed_at as date) as day,
        count(*) as restores,
        {{ exact_average(seconds_between('streak_started_at', 'completed_at')) }} as mean_time_to_restore_seconds
    from streak_marks
    where is_success and previous_is_success = false
    group by repository, workflow_name, cast(completed_at as date)

),

pipeline_days as (

    select
        pipeline_day_id,
        repository,
        workflow_name,
        day
    from run_days
    union distinct
    select
        pipeline_day_id,
        repository,
        workflow_name,
        day
    from job_days

),

final as (

    select
        pipeline_days.pipeline_day_id,
        pipeline_days.repository,
        pipeline_days.workflow_name,
        pipeline_days.day,
        coalesce(run_days.runs, 0) as runs,
        coalesce(run_days.failed_runs, 0) as failed_runs,
        coalesce(run_days.cancelled_runs, 0) as cancelled_runs,
        case when run_days.runs > 0 then run_days.failed_runs * 1.0 / run_days.runs end as failure_rate,
        run_days.duration_p50_seconds,
        run_days.duration_p95_seconds,
        coalesce(job_days.job_runs, 0) as job_runs,
        job_days.queue_p50_seconds,
        job_days.queue_p95_seconds,
        coalesce(run_days.reruns, 0) as reruns,
        case when run_days.runs > 0 then run_days.reruns * 1.0 / run_days.runs end as rerun_rate,
        coalesce(job_days.flaky_job_runs, 0) as flaky_job_runs,
        case
            when job_days.job_runs > 0 then job_days.flaky_job_runs * 1.0 / job_days.job_runs
        end as flaky_rate,
        coalesce(restores.restores, 0) as restores,
        restores.mean_time_to_restore_seconds,
        pipeline_days.workflow_name as cicd_pipeline_name
    from pipeline_days
    left join run_days
        on pipeline_days.pipeline_day_id = run_days.pipeline_day_id
    left join job_days
        on pipeline_days.pipeline_day_id = job_days.pipeline_day_id
    left join restores
        on pipeline_days.pipeline_day_id = restores.pipeline_day_id

)

select * from final
