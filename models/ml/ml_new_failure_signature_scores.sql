{#-
    new_failure_signature scores (macros/scoring/job_run_scores.sql): one per failed job
    attempt whose logs gave a failure signature (fct_job_run_log_signals), in the job's
    series of attempts on every branch (int_attempt_series).
-#}
with

log_signals as (

    select
        job_run_id,
        failure_signature
    from {{ ref('fct_job_run_log_signals') }}
    where failure_signature is not null and failure_signature != ''

),

-- every attempt of the job, any branch, in completion order
job_attempts as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        repository,
        completed_at,
        series_key,
        series_position,
        last_position
    from {{ ref('int_attempt_series') }}

),

signed_failures as (

    select
        job_attempts.job_run_id,
        job_attempts.series_key,
        job_attempts.series_position,
        job_attempts.last_position,
        log_signals.failure_signature,
        job_attempts.completed_at as scored_at,
        job_attempts.completed_at as known_at,
        job_attempts.job_key,
        substr(job_attempts.repository, 1, strpos(job_attempts.repository, '/') - 1) as owner
    from job_attempts
    inner join log_signals
        on job_attempts.job_run_id = log_signals.job_run_id

),

first_sightings as (

    select
        owner,
        job_key,
        failure_signature,
        min(scored_at) as first_seen_at
    from signed_failures
    group by owner, job_key, failure_signature

),

-- an error several other jobs of the owner already had (a registry outage, a runner
-- image problem) is not news for this one
common_elsewhere as (

    select
        sightings.job_key,
        sightings.failure_signature
    from first_sightings as sightings
    inner join first_sightings as others
        on
            sightings.owner = others.owner
            and sightings.failure_signature = others.failure_signature
            and sightings.job_key != others.job_key
            and sightings.first_seen_at > others.first_seen_at
    group by sightings.job_key, sightings.failure_signature
    having count(*) >= {{ var('apoa_signature_max_other_jobs') }}

),

signature_candidates as (

    select
        signed_failures.job_run_id,
        signed_failures.series_key,
        signed_failures.series_position,
        signed_failures.last_position,
        signed_failures.failure_signature,
        signed_failures.scored_at,
        signed_failures.known_at,
        common_elsewhere.job_key is not null as is_common_elsewhere
    from signed_failures
    left join common_elsewhere
        on
            signed_failures.job_key = common_elsewhere.job_key
            and signed_failures.failure_signature = common_elsewhere.failure_signature

),

{{ new_failure_signature_score_ctes('signature_candidates') }},

described as (

    select
        scores.*,
        job_attempts.job_key,
        job_attempts.is_default_branch,
        cast(null as {{ dbt.type_string() }}) as runner_label
    from scores
    inner join job_attempts
        on scores.job_run_id = job_attempts.job_run_id

)

select * from described
