{#-
    Every attempt of each job, on every branch, in completion order: the series
    new_failure_signature counts attempts in (how many came before a failure, how many since
    its signature was last seen). Locally incremental per job (macros/incremental/
    apoa_series_tables.sql): numbering every job run of the history on every micro-batch
    cost 0.45 s at 1M job runs. last_position is the job's attempt count, right because a
    touched job is rewritten whole.
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
        is_default_branch,
        repository,
        completed_at,
        state_load_seq
    from {{ ref('fct_job_runs') }}

),

{{ apoa_touched_units_cte('eligible', 'job_key') }}

attempts as (

    select *
    from eligible
    where true {{ apoa_only_touched_units('job_key') }}

),

positioned as (

    select
        {{ surrogate_key(['job_key']) }} as series_key,
        job_run_id,
        job_key,
        is_default_branch,
        repository,
        completed_at,
        row_number() over (
            partition by job_key order by completed_at asc, job_run_id asc
        ) as series_position,
        count(*) over (partition by job_key) as last_position,
        -- which jobs changed since the table was built (apoa_touched_units_cte)
        state_load_seq
    from attempts

)

select * from positioned
