{#- The queue series of each runner pool: every job that waited for a runner with these labels.
    Locally incremental per pool (macros/incremental/apoa_series_tables.sql). -#}
{{
    config(
        materialized=apoa_series_materialization(),
        unique_key='series_key',
        incremental_strategy='delete+insert',
    )
}}

{%- set season_hours = var('apoa_season_block_hours', 4) -%}
{%- set log_offset = var('apoa_queue_log_offset_seconds', 10) -%}
{%- set fingerprint = local_md5(
    'season_block_hours=' ~ season_hours ~ ';queue_log_offset_seconds=' ~ log_offset
) -%}

with

job_runs as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        repository,
        runner_labels,
        created_at,
        started_at,
        queue_seconds,
        state_load_seq
    from {{ ref('fct_job_runs') }}

),

-- a pool is an owner's runners with one set of labels: '["self-hosted","gpu"]' -> 'self-hosted,gpu'
pooled as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        substr(repository, 1, strpos(repository, '/') - 1) as owner,
        translate(runner_labels, '[]" ', '') as runner_label,
        created_at,
        started_at,
        queue_seconds,
        state_load_seq
    from job_runs
    where
        runner_labels is not null
        and strpos(repository, '/') > 1
        and queue_seconds >= 0

),

eligible as (

    select
        {{ surrogate_key(['owner', 'runner_label']) }} as series_key,
        *
    from pooled
    where runner_label != ''

),

{{ apoa_touched_units_cte('eligible', 'series_key', fingerprint) }}

queued_jobs as (

    select
        series_key,
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        runner_label,
        row_number() over (
            partition by owner, runner_label
            order by created_at asc, job_run_id asc
        ) as series_position,
        cast(queue_seconds as {{ type_double() }}) as observed_value,
        -- an offset keeps 1 s -> 3 s from looking like a 3x spike
        ln(queue_seconds + {{ log_offset }}) as log_value,
        {{ season_bucket('created_at', season_hours) }} as season_bucket,
        created_at as scored_at,
        started_at as known_at,
        -- which series changed since the scores were built (macros/incremental/apoa_series_scores.sql)
        state_load_seq,
        '{{ fingerprint }}' as series_fingerprint
    from eligible
    where true {{ apoa_only_touched_units('series_key') }}

)

select * from queued_jobs
