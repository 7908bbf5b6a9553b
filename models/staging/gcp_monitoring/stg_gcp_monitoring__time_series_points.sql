{{
    config(
        materialized='incremental',
        unique_key='point_id',
        incremental_strategy=apoa_insert_only_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('end_at'),
        cluster_by=apoa_cluster_by(['link_run_id', 'runner_name', 'metric_type']),
    )
}}

{#-
    A message of pipeline-metrics carries one Monitoring API v3 TimeSeries (as timeSeries.list
    returns it: metric, resource, metricKind, valueType, points newest first), or a body with a
    `timeSeries` array of them (a timeSeries.list page, a CreateTimeSeriesRequest). Alert
    incident notifications are staged by stg_gcp_monitoring__alert_incidents.
-#}
{%- set series_paths = {
    'metric_type': '$.metric.type',
    'metric_labels': '$.metric.labels',
    'resource_type': '$.resource.type',
    'resource_labels': '$.resource.labels',
    'metric_kind': '$.metricKind',
    'value_type': '$.valueType',
    'unit': '$.unit',
    'points': '$.points',
    'github_run_id': '$.metric.labels.github_run_id',
    'github_run_attempt': '$.metric.labels.github_run_attempt',
    'github_job': '$.metric.labels.github_job',
    'runner_name': '$.metric.labels.runner_name',
    'instance_name': '$.metric.labels.instance_name',
    'pod_name': '$.resource.labels.pod_name',
    'task_id': '$.resource.labels.task_id',
} -%}
{%- set message_paths = dict(series_paths, time_series='$.timeSeries') -%}
{#- point_id is the series' md5 and the interval end as sent: a point's identity. -#}
{%- set point_paths = {
    'start_time': '$.interval.startTime',
    'end_time': '$.interval.endTime',
    'double_value': '$.value.doubleValue',
    'int64_value': '$.value.int64Value',
    'bool_value': '$.value.boolValue',
    'string_value': '$.value.stringValue',
    'distribution_count': '$.value.distributionValue.count',
    'distribution_mean': '$.value.distributionValue.mean',
} -%}

with

source as (

    select
        message_id,
        load_seq,
        ingested_at,
        payload
    from {{ source('raw', 'raw_pipeline_metrics') }}
    {{ apoa_new_rows() }}

),

parsed as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_extract_paths('payload', message_paths) }} as message_fields
    from source

),

-- a message that is itself one TimeSeries
single_series as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('message_fields', message_paths, 'metric_type') }} as metric_type,
        {{ json_path_document('message_fields', message_paths, 'metric_labels') }} as metric_labels,
        {{ json_path_text('message_fields', message_paths, 'resource_type') }} as resource_type,
        {{ json_path_document('message_fields', message_paths, 'resource_labels') }} as resource_labels,
        {{ json_path_text('message_fields', message_paths, 'metric_kind') }} as metric_kind,
        {{ json_path_text('message_fields', message_paths, 'value_type') }} as value_type,
        {{ json_path_text('message_fields', message_paths, 'unit') }} as unit,
        {{ json_path_array('message_fields', message_paths, 'points') }} as points,
        {{ json_path_text('message_fields', message_paths, 'github_run_id') }} as github_run_id,
        {{ json_path_text('message_fields', message_paths, 'github_run_attempt') }} as github_run_attempt,
        {{ json_path_text('message_fields', message_paths, 'github_job') }} as github_job,
        {{ json_path_text('message_fields', message_paths, 'runner_name') }} as runner_name,
        {{ json_path_text('message_fields', message_paths, 'instance_name') }} as instance_name,
        {{ json_path_text('message_fields', message_paths, 'pod_name') }} as pod_name,
        {{ json_path_text('message_fields', message_paths, 'task_id') }} as task_id
    from parsed
    where
        {{ json_path_array('message_fields', message_paths, 'time_series') }} is null
        and {{ json_path_array('message_fields', message_paths, 'points') }} is not null

),

-- a message holding a timeSeries array: one row per element, each parsed once
series_lists as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_array('message_fields', message_paths, 'time_series') }} as time_series
    from parsed
    -- before the lateral unnest: DuckDB's unnest machinery costs as much per message without
    -- an array (most of them: an exporter sends one TimeSeries each) as with one
    where {{ json_path_array('message_fields', message_paths, 'time_series') }} is not null

),

series_elements as (

    select
        series_lists.message_id,
        series_lists.load_seq,
        series_lists.ingested_at,
        {{ json_extract_paths('series', series_paths) }} as series_fields
    from series_lists
    {{ json_array_elements('series_lists.time_series', 'series') }}

),

listed_series as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('series_fields', series_paths, 'metric_type') }} as metric_type,
        {{ json_path_document('series_fields', series_paths, 'metric_labels') }} as metric_labels,
        {{ json_path_text('series_fields', series_paths, 'resource_type') }} as resource_type,
        {{ json_path_document('series_fields', series_paths, 'resource_labels') }} as resource_labels,
        {{ json_path_text('series_fields', series_paths, 'metric_kind') }} as metric_kind,
        {{ json_path_text('series_fields', series_paths, 'value_type') }} as value_type,
        {{ json_path_text('series_fields', series_paths, 'unit') }} as unit,
        {{ json_path_array('series_fields', series_paths, 'points') }} as points,
        {{ json_path_text('series_fields', series_paths, 'github_run_id') }} as github_run_id,
        {{ json_path_text('series_fields', series_paths, 'github_run_attempt') }} as github_run_attempt,
        {{ json_path_text('series_fields', series_paths, 'github_job') }} as github_job,
        {{ json_path_text('series_fields', series_paths, 'runner_name') }} as runner_name,
        {{ json_path_text('series_fields', series_paths, 'instance_name') }} as instance_name,
        {{ json_path_text('series_fields', series_paths, 'pod_name') }} as pod_name,
        {{ json_path_text('series_fields', series_paths, 'task_id') }} as task_id
    from series_elements

),

all_series as (

    select * from single_series
    union all
    select * from listed_series

),

-- the link keys and the series' identity, once per series rather than once per point
keyed_series as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ surrogate_key(['metric_type', 'metric_labels', 'resource_type', 'resource_labels']) }}
            as series_id,
        metric_type,
        metric_labels,
        resource_type,
        resource_labels,
        metric_kind,
        value_type,
        unit,
        points,
        case
            when github_run_id is not null then 'labels'
            when {{ regexp_capture('task_id', '^([0-9]+)/[0-9]+/.+$') }} is not null then 'execution_id'
        end as link_source,
        {{ dbt.safe_cast(
            "coalesce(github_run_id, " ~ regexp_capture('task_id', '^([0-9]+)/[0-9]+/.+$') ~ ")",
            dbt.type_bigint()
        ) }} as link_run_id,
        {{ dbt.safe_cast(
            "case when github_run_id is not null then github_run_attempt else "
            ~ regexp_capture('task_id', '^[0-9]+/([0-9]+)/.+$') ~ " end",
            dbt.type_bigint()
        ) }} as link_run_attempt,
        case
            when github_run_id is not null then github_job
            else {{ regexp_capture('task_id', '^[0-9]+/[0-9]+/(.+)$') }}
        end as link_job,
        coalesce(runner_name, instance_name, pod_name) as runner_name
    from all_series

),

-- what a series' points share, once per series: only series_id travels through the
-- de-duplication below, whose hash table of every point with all of this was most of the
-- model's time (a series' columns are functions of its identity, series_id's inputs)
series as (

    select
        series_id,
        any_value(metric_type) as metric_type,
        any_value(metric_labels) as metric_labels,
        any_value(resource_type) as resource_type,
        any_value(resource_labels) as resource_labels,
        any_value(link_source) as link_source,
        any_value(link_run_id) as link_run_id,
        any_value(link_run_attempt) as link_run_attempt,
        any_value(link_job) as link_job,
        any_value(runner_name) as runner_name
    from keyed_series
    group by series_id

),

points as (

    {{ json_explode(
        'keyed_series', 'points',
        keep=['message_id', 'load_seq', 'ingested_at', 'series_id', 'metric_kind', 'value_type', 'unit'],
        fields=point_paths,
    ) }}

),

renamed as (

    select
        {{ dbt.concat(['series_id', "'@'", "coalesce(end_time, '')"]) }} as point_id,
        series_id,
        message_id,
        load_seq,
        ingested_at,
        metric_kind,
        value_type,
        unit,
        {{ iso_timestamp('start_time') }} as start_at,
        {{ iso_timestamp('end_time') }} as end_at,
        {{ dbt.safe_cast('double_value', type_double()) }} as double_value,
        -- protojson sends int64 as a JSON string
        {{ dbt.safe_cast('int64_value', dbt.type_bigint()) }} as int64_value,
        {{ dbt.safe_cast('bool_value', dbt.type_boolean()) }} as bool_value,
        string_value,
        {{ dbt.safe_cast('distribution_count', dbt.type_bigint()) }} as distribution_count,
        {{ dbt.safe_cast('distribution_mean', type_double()) }} as distribution_mean
    from points

),

ranked as (

    select
        *,
        row_number() over (partition by point_id order by {{ apoa_arrival_order() }}) as point_copy_number
    from renamed

),

first_copies as (

    select *
    from ranked
    where
        point_copy_number = 1
        {% if apoa_is_incremental() -%}
            -- a repeated point (an exporter window published twice) keeps its first copy; the
            -- end time, part of point_id, also joins: the stored points are then read only in
            -- the row groups around the new points' times (all 10M point ids took 0.5 s)
            and not exists (
                select landed.point_id
                from {{ this }} as landed
                where landed.point_id = ranked.point_id and landed.end_at = ranked.end_at
            )
            -- (a point whose end time did not parse)
            and not exists (
                select landed.point_id
                from {{ this }} as landed
                where
                    landed.point_id = ranked.point_id
                    and landed.end_at is null
                    and ranked.end_at is null
            )
        {%- endif %}

),

deduplicated as (

    select
        first_copies.point_id,
        first_copies.message_id,
        first_copies.load_seq,
        first_copies.ingested_at,
        series.metric_type,
        series.metric_labels,
        series.resource_type,
        series.resource_labels,
        first_copies.metric_kind,
        first_copies.value_type,
        first_copies.unit,
        first_copies.start_at,
        first_copies.end_at,
        first_copies.double_value,
        first_copies.int64_value,
        first_copies.bool_value,
        first_copies.string_value,
        first_copies.distribution_count,
        first_copies.distribution_mean,
        -- one number per point whatever its type (a distribution by its mean)
        coalesce(
            first_copies.double_value,
            cast(first_copies.int64_value as {{ type_double() }}),
            first_copies.distribution_mean,
            case when first_copies.bool_value then 1.0 when not first_copies.bool_value then 0.0 end
        ) as point_value,
        series.link_source,
        series.link_run_id,
        series.link_run_attempt,
        series.link_job,
        series.runner_name
    from first_copies
    inner join series
        on first_copies.series_id = series.series_id

)

select * from deduplicated
