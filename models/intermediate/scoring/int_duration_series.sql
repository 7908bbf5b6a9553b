{#- The duration series of each job: its successful runs, default branch apart from the others.
    Locally incremental per job (macros/incremental/apoa_series_tables.sql). -#}
{{
    config(
        materialized=apoa_series_materialization(),
        unique_key='job_key',
        incremental_strategy='delete+insert',
    )
}}

{%- set season_hours = var('apoa_season_block_hours', 4) -%}
{%- set fingerprint = local_md5('season_block_hours=' ~ season_hours) -%}

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
eligible as (

    select *
    from job_runs
    where
        conclusion = 'success'
        and duration_seconds > 0
        and started_at is not null

),

{{ apoa_touched_units_cte('eligible', 'job_key', fingerprint) }}

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
        {{ season_bucket('started_at', season_hours) }} as season_bucket,
        completed_at as scored_at,
        completed_at as known_at,
        -- which series changed since the scores were built (macros/incremental/apoa_series_scores.sql)
        state_load_seq,
        '{{ fingerprint }}' as series_fingerprint
    from eligible
    where true {{ apoa_only_touched_units('job_key') }}

)

select * from successful_runs
