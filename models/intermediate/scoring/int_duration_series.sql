{#- The duration series of each job: its successful runs, default branch apart from the others. -#}
with

job_runs as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        conclusion,
        started_at,
        completed_at,
        duration_seconds,
        state_load_seq
    from {{ ref('fct_job_runs') }}

),

-- only successful runs say how long the job takes
successful_runs as (

    select
        {{ surrogate_key(['job_key', 'is_default_branch']) }} as series_key,
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        row_number() over (
            partition by job_key, is_default_branch
            order by completed_at asc, job_run_id asc
        ) as series_position,
        cast(duration_seconds as {{ type_double() }}) as observed_value,
        ln(duration_seconds) as log_value,
        {{ season_bucket('started_at', var('apoa_season_block_hours', 4)) }} as season_bucket,
        completed_at as scored_at,
        completed_at as known_at,
        -- which series changed since the scores were built (macros/incremental/apoa_series_scores.sql)
        state_load_seq
    from job_runs
    where
        conclusion = 'success'
        and duration_seconds > 0
        and started_at is not null

)

select * from successful_runs
