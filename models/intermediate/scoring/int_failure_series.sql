{#-
    The failure series of each job: one row per workflow run of the job with a verdict (its
    latest attempt succeeded, failed or timed out), default branch apart from the others.
    A run is what a developer sees as the commit's check: re-runs are attempts of the same run.
    Locally incremental per job (macros/incremental/apoa_series_tables.sql).
-#}
{{
    config(
        materialized=apoa_series_materialization(),
        unique_key='job_key',
        incremental_strategy='delete+insert',
    )
}}

with

every_job_run as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        head_sha,
        run_id,
        run_attempt,
        conclusion,
        created_at,
        completed_at,
        state_load_seq
    from {{ ref('fct_job_runs') }}
    where run_id is not null

),

{{ apoa_touched_units_cte('every_job_run', 'job_key') }}

job_runs as (

    select *
    from every_job_run
    where true {{ apoa_only_touched_units('job_key') }}

),

-- flaky: the same job on the same commit has a failed and a successful attempt; the pair
-- becomes visible when the later of the two completes
commit_outcomes as (

    select
        job_key,
        head_sha,
        min(case when conclusion in ('failure', 'timed_out') then completed_at end)
            as first_failed_at,
        min(case when conclusion = 'success' then completed_at end) as first_succeeded_at
    from job_runs
    where head_sha is not null
    group by job_key, head_sha

),

attempts as (

    select
        job_runs.*,
        coalesce(
            commit_outcomes.first_failed_at is not null
            and commit_outcomes.first_succeeded_at is not null
            and job_runs.completed_at = greatest(
                commit_outcomes.first_failed_at, commit_outcomes.first_succeeded_at
            ),
            false
        ) as completes_flaky_pair,
        row_number() over (
            partition by job_runs.job_key, job_runs.run_id
            order by job_runs.run_attempt desc, job_runs.completed_at desc, job_runs.job_run_id desc
        ) as attempt_from_last,
        row_number() over (
            partition by job_runs.job_key, job_runs.run_id
            order by job_runs.run_attempt asc, job_runs.created_at asc, job_runs.job_run_id asc
        ) as attempt_from_first
    from job_runs
    left join commit_outcomes
        on
            job_runs.job_key = commit_outcomes.job_key
            and job_runs.head_sha = commit_outcomes.head_sha

),

runs as (

    select
        job_key,
        run_id,
        count(*) as attempts,
        max(case when attempt_from_first = 1 then job_run_id end) as first_job_run_id,
        max(case when attempt_from_first = 1 then created_at end) as created_at,
        max(case when attempt_from_last = 1 then job_run_id end) as job_run_id,
        max(case when attempt_from_last = 1 then conclusion end) as conclusion,
        max(case when attempt_from_last = 1 then completed_at end) as completed_at,
        max(case when conclusion = 'success' then 1 else 0 end) as has_success,
        max(case when conclusion in ('failure', 'timed_out') then 1 else 0 end) as has_failed_attempt,
        max(case when completes_flaky_pair then 1 else 0 end) as has_flaky_pair,
        max(state_load_seq) as state_load_seq
    from attempts
    group by job_key, run_id

),

with_verdicts as (

    select
        {{ surrogate_key(['runs.job_key', 'latest.is_default_branch']) }} as series_key,
        runs.job_run_id,
        runs.first_job_run_id,
        runs.run_id,
        runs.job_key,
        latest.is_default_branch,
        latest.head_branch,
        latest.head_sha,
        row_number() over (
            partition by runs.job_key, latest.is_default_branch
            order by runs.created_at asc, runs.run_id asc
        ) as series_position,
        -- the job's runs on every branch: flakiness belongs to the job, not to a branch
        {{ surrogate_key(['runs.job_key']) }} as job_series_key,
        row_number() over (
            partition by runs.job_key
            order by runs.created_at asc, runs.run_id asc
        ) as job_position,
        runs.attempts,
        runs.conclusion in ('failure', 'timed_out') as is_failure,
        runs.has_failed_attempt = 1 as has_failure,
        runs.conclusion in ('failure', 'timed_out') and runs.has_success = 0 as is_broken,
        runs.has_flaky_pair = 1 as is_flaky,
        -- a failure a re-run reproduced: the commit fails for real
        runs.attempts > 1 and runs.has_success = 0 and runs.has_failed_attempt = 1
            as is_reproduced_failure,
        -- a failure no re-run reproduced (none was made, or it passed): what flakes look like
        (runs.has_failed_attempt = 1 and not (runs.attempts > 1 and runs.has_success = 0))
        or runs.has_flaky_pair = 1 as is_unreproduced_failure,
        runs.completed_at as scored_at,
        runs.completed_at as known_at,
        -- which series changed since the scores were built (macros/incremental/apoa_series_scores.sql)
        runs.state_load_seq
    from runs
    inner join job_runs as latest
        on runs.job_run_id = latest.job_run_id
    where runs.conclusion in ('success', 'failure', 'timed_out')

)

select * from with_verdicts
