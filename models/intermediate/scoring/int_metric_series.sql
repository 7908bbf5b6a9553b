{#-
    The Cloud Monitoring series metric_anomaly scores: every GAUGE or DELTA series that is
    not the sample of CI jobs (points that name a run, or that int_metric_points_linked_to_job_runs
    linked to a job run by runner and time: resource_misuse judges those), one row per point,
    oldest first. A series is its metric type and labels and its monitored
    resource type and labels (stg_gcp_monitoring__time_series_points.series_id).
-#}
with

points as (

    select
        point_id,
        metric_type,
        metric_labels,
        resource_type,
        resource_labels,
        metric_kind,
        unit,
        end_at,
        point_value
    from {{ ref('stg_gcp_monitoring__time_series_points') }}
    where
        link_run_id is null
        and point_id not in (
            select linked.point_id
            from {{ ref('int_metric_points_linked_to_job_runs') }} as linked
            where linked.job_run_id is not null
        )
        and point_value is not null
        and end_at is not null
        and coalesce(metric_kind, 'GAUGE') in ('GAUGE', 'DELTA')

),

keyed as (

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
    from points

),

positioned as (

    select
        series_key,
        point_id,
        metric_type,
        series_name,
        unit,
        row_number() over (partition by series_key order by end_at asc) as series_position,
        -- minutes since midnight UTC: the phase of the daily cycle
        extract(hour from end_at) * 60 + extract(minute from end_at) as minute_of_day,
        cast(point_value as {{ type_double() }}) as observed_value,
        end_at as scored_at,
        end_at as known_at
    from keyed

)

select * from positioned
