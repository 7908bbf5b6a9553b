{{
    config(
        materialized='incremental',
        unique_key='point_id',
        incremental_strategy=apoa_incremental_strategy(),
        apoa_prune_by='end_at',
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

new_points as (

    select
        point_id,
        load_seq,
        ingested_at,
        end_at,
        metric_type,
        point_value,
        link_source,
        link_run_id,
        link_run_attempt,
        link_job,
        runner_name
    from {{ ref('stg_gcp_monitoring__time_series_points') }}
    {{ apoa_new_rows('load_seq', 'link_load_seq', 'ingested_at', 'link_ingested_at') }}

),

{% if apoa_is_incremental() -%}

    -- jobs with new deliveries may claim (or make ambiguous) points that landed before them
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

    relinked_points as (

        select
            landed.point_id,
            landed.load_seq,
            landed.ingested_at,
            landed.end_at,
            landed.metric_type,
            landed.point_value,
            landed.link_source,
            landed.link_run_id,
            landed.link_run_attempt,
            landed.link_job,
            landed.runner_name
        from {{ ref('stg_gcp_monitoring__time_series_points') }} as landed
        where landed.link_run_id in (select changed_jobs.run_id from changed_jobs)
        union distinct
        select
            landed.point_id,
            landed.load_seq,
            landed.ingested_at,
            landed.end_at,
            landed.metric_type,
            landed.point_value,
            landed.link_source,
            landed.link_run_id,
            landed.link_run_attempt,
            landed.link_job,
            landed.runner_name
        from {{ ref('stg_gcp_monitoring__time_series_points') }} as landed
        inner join changed_runner_windows
            on
                landed.runner_name = changed_runner_windows.runner_name
                and landed.link_run_id is null
                and landed.end_at >= changed_runner_windows.window_start
                -- implied by the line above; as a bound DuckDB skips the older row groups
                and landed.end_at >= (
                    select min(bounds.window_start) as earliest from changed_runner_windows as bounds
                )
                and {{ seconds_between('changed_runner_windows.window_end', 'landed.end_at') }} <= {{ slack }}

    ),

{% endif -%}

points as (

    select * from new_points
    {% if apoa_is_incremental() -%}
        union distinct
        select * from relinked_points
    {%- endif %}

),

items as (

    select
        point_id as item_id,
        end_at as observed_at,
        link_run_id,
        link_run_attempt,
        link_job,
        link_source,
        runner_name
    from points

),

links as (

    {{ link_to_job_runs('items', 'workflow_jobs') }}

),

linked as (

    select
        points.point_id,
        links.job_run_id,
        links.link_method,
        links.unlinked_reason,
        points.end_at,
        points.metric_type,
        points.point_value,
        points.link_run_id,
        points.runner_name,
        -- what this row was built from: the incremental watermark
        case
            when workflow_jobs.load_seq > points.load_seq then workflow_jobs.load_seq
            else points.load_seq
        end as link_load_seq,
        case
            when workflow_jobs.ingested_at > points.ingested_at then workflow_jobs.ingested_at
            else points.ingested_at
        end as link_ingested_at
    from points
    inner join links
        on points.point_id = links.item_id
    left join workflow_jobs
        on links.job_run_id = workflow_jobs.job_id

)

select * from linked
