{#-
    flaky_job scores (macros/scoring/job_run_scores.sql): one per workflow run of a job, in the
    job's series over every branch (flakiness is the job's, whichever branch ran it).
-#}
with

job_runs as (

    select
        job_series_key as series_key,
        job_run_id,
        job_position as series_position,
        scored_at,
        known_at,
        is_flaky
    from {{ ref('int_failure_series') }}

),

{{ flaky_job_score_ctes('job_runs') }},

series as (

    select
        job_run_id,
        job_key,
        is_default_branch
    from {{ ref('int_failure_series') }}

),

described as (

    select
        scores.*,
        series.job_key,
        series.is_default_branch,
        cast(null as {{ dbt.type_string() }}) as runner_label,
        cast(null as {{ dbt.type_string() }}) as failure_signature
    from scores
    inner join series
        on scores.job_run_id = series.job_run_id

)

select * from described
