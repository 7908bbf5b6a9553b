{#-
    The resource series of each job: one row per job run and measure with a peak in
    fct_job_run_resources (cpu_utilization and memory_utilization as 0-1 fractions,
    memory_used_bytes), the job's runs on every branch in completion order. Locally
    incremental per job (macros/incremental/apoa_series_tables.sql): rewritten whole on every
    micro-batch it cost 1.6 s at 1M job runs.
-#}
{{
    config(
        materialized=apoa_series_materialization(),
        unique_key='job_key',
        incremental_strategy='delete+insert',
    )
}}

with

eligible as (

    select
        job_run_id,
        job_key,
        completed_at,
        cpu_utilization_peak,
        memory_utilization_peak,
        memory_used_bytes_peak,
        state_load_seq
    from {{ ref('fct_job_run_resources') }}
    where completed_at is not null

),

{{ apoa_touched_units_cte('eligible', 'job_key') }}

resources as (

    select *
    from eligible
    where true {{ apoa_only_touched_units('job_key') }}

),

measured as (

    select
        job_run_id,
        job_key,
        completed_at,
        'cpu_utilization' as measure,
        cpu_utilization_peak as peak_value,
        state_load_seq
    from resources
    where cpu_utilization_peak > 0
    union all
    select
        job_run_id,
        job_key,
        completed_at,
        'memory_utilization' as measure,
        memory_utilization_peak as peak_value,
        state_load_seq
    from resources
    where memory_utilization_peak > 0
    union all
    select
        job_run_id,
        job_key,
        completed_at,
        'memory_used_bytes' as measure,
        memory_used_bytes_peak as peak_value,
        state_load_seq
    from resources
    where memory_used_bytes_peak > 0

),

positioned as (

    select
        {{ surrogate_key(['job_key', 'measure']) }} as series_key,
        job_run_id,
        job_key,
        measure,
        row_number() over (
            partition by job_key, measure order by completed_at asc, job_run_id asc
        ) as series_position,
        cast(peak_value as {{ type_double() }}) as observed_value,
        ln(peak_value) as log_value,
        completed_at as scored_at,
        completed_at as known_at,
        -- which series changed since the scores were built (macros/incremental/apoa_series_scores.sql)
        state_load_seq
    from measured

)

select * from positioned
