{#-
    flaky_job scores (macros/scoring/job_run_scores.sql): one per workflow run of a job, in the
    job's series over every branch (flakiness is the job's, whichever branch ran it). The
    evidence is every failure no re-run reproduced (a flake is cured by a re-run, or looks like
    any failure when nobody re-ran it); an episode stands only when re-runs confirm it: at
    least `apoa_flaky_min_flips` runs failed and passed on one commit, and they are at least
    `apoa_flaky_min_cured_share` of the re-run failures (a failure that re-runs reproduce is
    breakage, a failure_rate).
-#}
{{
    config(
        materialized=apoa_scores_materialization(),
        unique_key='series_key',
        incremental_strategy='series_tail',
    )
}}

with

{{ apoa_rescore_cte(ref('int_failure_series'), 'job_series_key', 'job_position') }}

job_runs as (

    select
        job_series_key as series_key,
        job_run_id,
        job_position as series_position,
        scored_at,
        known_at,
        is_unreproduced_failure,
        is_flaky,
        is_reproduced_failure
    from {{ apoa_touched_series(ref('int_failure_series'), 'job_series_key', 'job_position') }}

),

{{ flaky_job_score_ctes('job_runs') }},

series as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        state_load_seq
    -- the scored series' points only: joined with every point of the history, the scores
    -- built a hash table of all of them on every micro-batch (0.17 s at 1M job runs)
    from {{ apoa_touched_series(ref('int_failure_series'), 'job_series_key', 'job_position') }}

),

-- re-runs confirm an episode: enough flips, and most re-run failures cured
episode_confirmations as (

    select
        scores.episode_id,
        sum(case when job_runs.is_flaky then 1 else 0 end) as flips,
        sum(case when job_runs.is_reproduced_failure then 1 else 0 end) as reproduced
    from scores
    inner join job_runs
        on scores.job_run_id = job_runs.job_run_id
    where scores.episode_id is not null
    group by scores.episode_id

),

confirmed_episodes as (

    select episode_id
    from episode_confirmations
    where
        flips >= {{ var('apoa_flaky_min_flips') }}
        and flips >= {{ var('apoa_flaky_min_cured_share') }} * (flips + reproduced)

),

described as (

    select
        scores.job_run_id,
        scores.series_key,
        scores.series_position,
        scores.kind,
        scores.scored_at,
        scores.known_at,
        scores.observed_value,
        scores.expected_value,
        scores.lower_bound,
        scores.upper_bound,
        scores.is_anomaly,
        scores.anomaly_probability,
        scores.history_runs,
        confirmed_episodes.episode_id,
        case when confirmed_episodes.episode_id is not null then scores.episode_detected_at end
            as episode_detected_at,
        case when confirmed_episodes.episode_id is not null then scores.episode_status end
            as episode_status,
        case when confirmed_episodes.episode_id is not null then scores.episode_resolution end
            as episode_resolution,
        series.job_key,
        series.is_default_branch,
        series.state_load_seq,
        {{ apoa_scoring_fingerprint_sql() }} as scoring_fingerprint,
        cast(null as {{ dbt.type_string() }}) as runner_label,
        cast(null as {{ dbt.type_string() }}) as failure_signature
    from scores
    inner join series
        on scores.job_run_id = series.job_run_id
    left join confirmed_episodes
        on scores.episode_id = confirmed_episodes.episode_id

)

{{ apoa_rescored_rows('described') }}
