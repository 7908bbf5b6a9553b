{#- The queue series of each runner pool: every job that waited for a runner with these labels.
    Locally incremental: a pool grows with the whole history, so a micro-batch renumbers only
    each touched pool's tail, from the earliest point a changed job run has (or had) in it
    (`delete+insert` on job_run_id; macros/incremental/apoa_series_tables.sql has the
    per-job series). A job run that left every pool (no labels, no start) is deleted after. -#}
{{
    config(
        materialized=apoa_series_materialization(),
        unique_key='job_run_id',
        incremental_strategy='delete+insert',
        post_hook='{{ apoa_delete_left_pools() }}',
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
        {{ runner_label('runner_labels') }} as runner_label,
        created_at,
        started_at,
        queue_seconds,
        state_load_seq
    from job_runs
    where {{ apoa_in_a_runner_pool() }} and {{ apoa_pool_tail_floor(ref('fct_job_runs'), fingerprint) }}

),

eligible as (

    select
        {{ surrogate_key(['owner', 'runner_label']) }} as series_key,
        *
    from pooled

),

{{ apoa_pool_tails_ctes('eligible', 'job_runs', fingerprint) }}

queued_jobs as (

    select
        series_key,
        job_run_id,
        job_key,
        is_default_branch,
        head_branch,
        runner_label,
        {{ apoa_pool_tail_offset() }} row_number() over (
            partition by eligible.series_key
            order by eligible.created_at asc, eligible.job_run_id asc
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
    {{ apoa_only_pool_tails('eligible') }}

)

select * from queued_jobs
