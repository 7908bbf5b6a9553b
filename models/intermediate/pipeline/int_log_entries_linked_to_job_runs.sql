{{
    config(
        materialized='incremental',
        unique_key='log_entry_id',
        incremental_strategy=apoa_incremental_strategy(),
        apoa_prune_by='logged_at',
        on_schema_change='fail',
        cluster_by=apoa_cluster_by(['job_run_id']),
    )
}}

{%- set slack = var('apoa_link_window_slack_seconds', 5) -%}

with

workflow_jobs as {{ apoa_not_materialized() }} (

    select
        job_id,
        load_seq,
        ingested_at,
        run_id,
        run_attempt,
        job_name,
        runner_name,
        started_at,
        completed_at
    from {{ ref('stg_github__workflow_jobs') }}

),

new_entries as (

    select
        log_entry_id,
        load_seq,
        ingested_at,
        logged_at,
        link_source,
        link_run_id,
        link_run_attempt,
        link_job,
        runner_name
    from {{ ref('stg_gcp_logging__log_entries') }}
    {{ apoa_new_rows('load_seq', 'link_load_seq', 'ingested_at', 'link_ingested_at') }}

),

{% if apoa_is_incremental() -%}

    -- jobs with new deliveries may claim (or make ambiguous) entries that landed before them
    changed_jobs as (

        select
            job_id,
            run_id,
            runner_name,
            started_at,
            completed_at
        from {{ ref('stg_github__workflow_jobs') }}
        {{ apoa_new_rows('last_load_seq', 'link_load_seq', 'last_ingested_at', 'link_ingested_at') }}

    ),

    changed_runner_windows as (

        {{ apoa_runner_windows('changed_jobs') }}

    ),

    relinked_entries as (

        select
            landed.log_entry_id,
            landed.load_seq,
            landed.ingested_at,
            landed.logged_at,
            landed.link_source,
            landed.link_run_id,
            landed.link_run_attempt,
            landed.link_job,
            landed.runner_name
        from {{ ref('stg_gcp_logging__log_entries') }} as landed
        where landed.link_run_id in (select changed_jobs.run_id from changed_jobs)
        union distinct
        select
            landed.log_entry_id,
            landed.load_seq,
            landed.ingested_at,
            landed.logged_at,
            landed.link_source,
            landed.link_run_id,
            landed.link_run_attempt,
            landed.link_job,
            landed.runner_name
        from {{ ref('stg_gcp_logging__log_entries') }} as landed
        inner join changed_runner_windows
            on
                landed.runner_name = changed_runner_windows.runner_name
                and landed.link_run_id is null
                and landed.logged_at >= changed_runner_windows.window_start
                -- implied by the line above; as a bound DuckDB skips the older row groups
                and landed.logged_at >= (
                    select min(bounds.window_start) as earliest from changed_runner_windows as bounds
                )
                and {{ seconds_between('changed_runner_windows.window_end', 'landed.logged_at') }} <= {{ slack }}

    ),

{% endif -%}

entries as (

    select * from new_entries
    {% if apoa_is_incremental() -%}
        union distinct
        select * from relinked_entries
    {%- endif %}

),

items as (

    select
        log_entry_id as item_id,
        logged_at as observed_at,
        link_run_id,
        link_run_attempt,
        link_job,
        link_source,
        runner_name
    from entries

),

links as (

    {{ link_to_job_runs('items', 'workflow_jobs') }}

),

linked as (

    select
        entries.log_entry_id,
        links.job_run_id,
        links.link_method,
        links.unlinked_reason,
        entries.logged_at,
        entries.link_run_id,
        entries.runner_name,
        -- what this row was built from: the incremental watermark
        case
            when workflow_jobs.load_seq > entries.load_seq then workflow_jobs.load_seq
            else entries.load_seq
        end as link_load_seq,
        case
            when workflow_jobs.ingested_at > entries.ingested_at then workflow_jobs.ingested_at
            else entries.ingested_at
        end as link_ingested_at
    from entries
    inner join links
        on entries.log_entry_id = links.item_id
    left join workflow_jobs
        on links.job_run_id = workflow_jobs.job_id

)

select * from linked
