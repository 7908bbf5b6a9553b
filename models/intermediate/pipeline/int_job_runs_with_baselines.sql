{%- set duration_window = var('apoa_duration_window_runs', 30) -%}
{%- set failure_window = var('apoa_failure_window_runs', 10) -%}
{%- set failure_baseline = var('apoa_failure_baseline_runs', 50) -%}

with

job_runs as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        conclusion,
        is_failure,
        completed_at,
        duration_seconds
    from {{ ref('fct_job_runs') }}

),

-- a job's series: same job_key and same branch class, in completion order
duration_runs as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        {{ safe_ln('duration_seconds') }} as log_duration,
        row_number() over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
        ) as duration_sequence
    from job_runs
    -- only successful runs say how long the job takes
    where conclusion = 'success' and duration_seconds > 0

),

-- each run paired with the runs before it in its trailing window (never with itself)
duration_histories as (

    select
        scored.job_run_id,
        history.log_duration
    from duration_runs as scored
    inner join duration_runs as history
        on
            scored.job_key = history.job_key
            and scored.is_default_branch = history.is_default_branch
            and scored.duration_sequence > history.duration_sequence
            and scored.duration_sequence - {{ duration_window }} <= history.duration_sequence

),

duration_centers as (

    select
        job_run_id,
        count(*) as duration_history_runs,
        {{ median('log_duration') }} as duration_log_median
    from duration_histories
    group by job_run_id

),

duration_spreads as (

    select
        duration_histories.job_run_id,
        {{ median('abs(duration_histories.log_duration - duration_centers.duration_log_median)') }}
            as duration_log_mad
    from duration_histories
    inner join duration_centers
        on duration_histories.job_run_id = duration_centers.job_run_id
    group by duration_histories.job_run_id

),

-- cancelled and skipped runs say nothing about failing: the failure series leaves them out
failure_runs as (

    select
        job_run_id,
        row_number() over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
        ) as failure_sequence,
        count(*) over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
            rows between {{ failure_window - 1 }} preceding and current row
        ) as failure_window_runs,
        sum(case when is_failure then 1 else 0 end) over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
            rows between {{ failure_window - 1 }} preceding and current row
        ) as failure_window_failures,
        count(*) over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
            rows between {{ failure_window + failure_baseline - 1 }} preceding
            and {{ failure_window }} preceding
        ) as failure_baseline_runs,
        sum(case when is_failure then 1 else 0 end) over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
            rows between {{ failure_window + failure_baseline - 1 }} preceding
            and {{ failure_window }} preceding
        ) as failure_baseline_failures
    from job_runs
    where conclusion in ('success', 'failure', 'timed_out')

),

joined as (

    select
        job_runs.job_run_id,
        job_runs.job_key,
        job_runs.is_default_branch,
        job_runs.conclusion,
        job_runs.is_failure,
        job_runs.completed_at,
        job_runs.duration_seconds,
        duration_runs.duration_sequence,
        coalesce(duration_centers.duration_history_runs, 0) as duration_history_runs,
        duration_centers.duration_log_median,
        duration_spreads.duration_log_mad,
        failure_runs.failure_sequence,
        failure_runs.failure_window_runs,
        failure_runs.failure_window_failures,
        coalesce(failure_runs.failure_baseline_runs, 0) as failure_baseline_runs,
        coalesce(failure_runs.failure_baseline_failures, 0) as failure_baseline_failures
    from job_runs
    left join duration_runs
        on job_runs.job_run_id = duration_runs.job_run_id
    left join duration_centers
        on job_runs.job_run_id = duration_centers.job_run_id
    left join duration_spreads
        on job_runs.job_run_id = duration_spreads.job_run_id
    left join failure_runs
        on job_runs.job_run_id = failure_runs.job_run_id

)

select * from joined
