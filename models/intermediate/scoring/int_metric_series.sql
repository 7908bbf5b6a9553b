{#-
    The Cloud Monitoring series metric_anomaly scores: every GAUGE or DELTA series that is
    not the sample of CI jobs (points that name a run, or that int_metric_points_linked_to_job_runs
    linked to a job run by runner and time: resource_misuse judges those), one row per point,
    oldest first. A series is its metric type and labels and its monitored
    resource type and labels (stg_gcp_monitoring__time_series_points.series_id).

    Locally incremental by tail, like the runner pools of int_queue_series: a series of
    unlinked points grows with the whole history (one series holds every point of the jobs
    that set no label at all), so a micro-batch renumbers each touched series from its
    earliest change: a new unlinked point, or a stored point that a job delivered since has
    claimed (macros/incremental/apoa_series_tables.sql). Rebuilt whole, the table read every
    point of the history on every micro-batch (1.2 s at 1M job runs).
-#}
{{
    config(
        materialized=apoa_series_materialization(),
        unique_key='point_id',
        incremental_strategy='delete+insert',
        post_hook='{{ apoa_delete_claimed_points() }}',
    )
}}

with

links as (

    select
        point_id,
        job_run_id,
        link_run_id,
        link_load_seq
    from {{ ref('int_metric_points_linked_to_job_runs') }}
    where {{ apoa_metric_tail_floor('end_at') }}

),

candidate_points as (

    select
        {{ surrogate_key(['metric_type', 'metric_labels', 'resource_type', 'resource_labels']) }}
            as series_key,
        point_id,
        metric_type,
        -- how people read a series: type{labels} on resource{labels}
        concat(
            metric_type, coalesce(metric_labels, '{}'), ' on ', coalesce(resource_type, '?'),
            coalesce(resource_labels, '{}')
        ) as series_name,
        coalesce(unit, '1') as unit,
        end_at,
        point_value
    from {{ ref('stg_gcp_monitoring__time_series_points') }}
    where
        link_run_id is null
        and point_value is not null
        and end_at is not null
        and coalesce(metric_kind, 'GAUGE') in ('GAUGE', 'DELTA')
        and {{ apoa_metric_tail_floor('end_at') }}

),

{{ apoa_metric_tails_ctes('candidate_points', 'links') }}

-- the unlinked points of the (touched) series, each with the link state it was built from
unlinked as (

    select
        candidate_points.*,
        {{ apoa_metric_tail_offset() }} as tail_offset,
        coalesce(links.link_load_seq, -1) as state_load_seq
    from candidate_points
    left join links
        on candidate_points.point_id = links.point_id
    {{ apoa_only_metric_tails('candidate_points') }}
    where links.job_run_id is null

),

positioned as (

    select
        series_key,
        point_id,
        metric_type,
        series_name,
        unit,
        tail_offset + row_number() over (
            partition by series_key order by end_at asc, point_id asc
        ) as series_position,
        -- minutes since midnight UTC: the phase of the daily cycle
        extract(hour from end_at) * 60 + extract(minute from end_at) as minute_of_day,
        cast(point_value as {{ type_double() }}) as observed_value,
        end_at as scored_at,
        end_at as known_at,
        state_load_seq,
        cast(null as {{ dbt.type_bigint() }}) as claimed_by_job_run_id
    from unlinked

)

select * from positioned
{{ apoa_claimed_points_rows() }}
