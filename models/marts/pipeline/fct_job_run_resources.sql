{{
    config(
        materialized='incremental',
        unique_key='job_run_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('completed_at'),
        cluster_by=apoa_cluster_by(['job_key', 'job_run_id']),
    )
}}

-- the incremental branch reads the jobs' changes: depends_on: {{ ref('stg_github__workflow_jobs') }}

with

{% if apoa_is_incremental() -%}

    -- job runs whose row may change: rebuilt job runs, jobs that got newly linked points, and
    -- the neighbours of changed jobs (points can move away from them, see link_to_job_runs)
    changed_jobs as (

        select
            job_id,
            run_id,
            runner_name,
            started_at,
            completed_at
        from {{ ref('stg_github__workflow_jobs') }}
        {{ apoa_new_rows('last_load_seq', 'state_load_seq', 'last_ingested_at', 'state_ingested_at') }}

    ),

    touched_job_runs as (

        select job_run_id
        from {{ ref('fct_job_runs') }}
        {{ apoa_new_rows('state_load_seq', 'state_load_seq', 'state_ingested_at', 'state_ingested_at') }}
        union distinct
        select job_run_id
        from {{ ref('int_metric_points_linked_to_job_runs') }}
        {{ apoa_new_rows('link_load_seq', 'state_load_seq', 'link_ingested_at', 'state_ingested_at') }}
        union distinct
        {{ apoa_link_neighbor_jobs('changed_jobs', ref('stg_github__workflow_jobs')) }}

    ),

{% endif -%}

job_runs as (

    select
        job_run_id,
        job_key,
        repository,
        workflow_name,
        job_name,
        run_id,
        run_attempt,
        runner_name,
        runner_labels,
        completed_at,
        duration_seconds,
        state_load_seq,
        state_ingested_at
    from {{ ref('fct_job_runs') }}
    {% if apoa_is_incremental() -%}
        where job_run_id in (select touched_job_runs.job_run_id from touched_job_runs)
    {%- endif %}

),

-- the linked points that measure CPU or memory (macros/gcp/resource_measure.sql)
linked_points as (

    select
        job_run_id,
        link_load_seq,
        link_ingested_at,
        end_at,
        {{ resource_measure('metric_type', 'measure') }} as measure,
        point_value * {{ resource_measure('metric_type', 'scale') }} as measured_value
    from {{ ref('int_metric_points_linked_to_job_runs') }}
    where
        job_run_id in (select job_runs.job_run_id from job_runs)
        and {{ resource_measure('metric_type', 'measure') }} is not null

),

point_summaries as (

    select
        job_run_id,
        count(*) as metric_point_count,
        min(end_at) as first_sample_at,
        max(end_at) as last_sample_at,
        sum(case when measure = 'cpu_utilization' then 1 else 0 end) as cpu_point_count,
        -- exact: a float sum's last bits depend on the order a parallel aggregate adds rows in
        {{ exact_average("case when measure = 'cpu_utilization' then measured_value end") }}
            as cpu_utilization_avg,
        max(case when measure = 'cpu_utilization' then measured_value end) as cpu_utilization_peak,
        {{ exact_average("case when measure = 'memory_utilization' then measured_value end") }}
            as memory_utilization_avg,
        max(case when measure = 'memory_utilization' then measured_value end) as memory_utilization_peak,
        sum(case when measure = 'memory_used_bytes' then 1 else 0 end) as memory_point_count,
        {{ exact_average("case when measure = 'memory_used_bytes' then measured_value end") }}
            as memory_used_bytes_avg,
        max(case when measure = 'memory_used_bytes' then measured_value end) as memory_used_bytes_peak,
        max(link_load_seq) as link_load_seq,
        max(link_ingested_at) as link_ingested_at
    from linked_points
    group by job_run_id

),

resources as (

    select
        job_runs.job_run_id,
        job_runs.job_key,
        job_runs.repository,
        job_runs.workflow_name,
        job_runs.job_name,
        job_runs.run_id,
        job_runs.run_attempt,
        job_runs.runner_name,
        job_runs.runner_labels,
        job_runs.completed_at,
        job_runs.duration_seconds,
        coalesce(point_summaries.metric_point_count, 0) as metric_point_count,
        point_summaries.first_sample_at,
        point_summaries.last_sample_at,
        coalesce(point_summaries.cpu_point_count, 0) as cpu_point_count,
        point_summaries.cpu_utilization_avg,
        point_summaries.cpu_utilization_peak,
        point_summaries.memory_utilization_avg,
        point_summaries.memory_utilization_peak,
        coalesce(point_summaries.memory_point_count, 0) as memory_point_count,
        point_summaries.memory_used_bytes_avg,
        point_summaries.memory_used_bytes_peak,
        case
            when point_summaries.link_load_seq > job_runs.state_load_seq then point_summaries.link_load_seq
            else job_runs.state_load_seq
        end as state_load_seq,
        case
            when point_summaries.link_ingested_at > job_runs.state_ingested_at then point_summaries.link_ingested_at
            else job_runs.state_ingested_at
        end as state_ingested_at
    from job_runs
    left join point_summaries
        on job_runs.job_run_id = point_summaries.job_run_id

)

select * from resources
