{{
    config(
        materialized='incremental',
        unique_key='incident_state_id',
        incremental_strategy=apoa_insert_only_strategy(),
        on_schema_change='fail',
    )
}}

{#- Cloud Monitoring alerting's Pub/Sub notification channel (schema version 1.2): one
    message per incident state change, on pipeline-metrics. -#}
{%- set incident_paths = {
    'version': '$.version',
    'incident_id': '$.incident.incident_id',
    'state': '$.incident.state',
    'policy_name': '$.incident.policy_name',
    'condition_name': '$.incident.condition_name',
    'condition': '$.incident.condition.name',
    'severity': '$.incident.severity',
    'summary': '$.incident.summary',
    'started_at': '$.incident.started_at',
    'ended_at': '$.incident.ended_at',
    'metric_type': '$.incident.metric.type',
    'metric_labels': '$.incident.metric.labels',
    'resource_type': '$.incident.resource.type',
    'resource_labels': '$.incident.resource.labels',
    'resource_name': '$.incident.resource_name',
    'observed_value': '$.incident.observed_value',
    'threshold_value': '$.incident.threshold_value',
    'scoping_project_id': '$.incident.scoping_project_id',
    'url': '$.incident.url',
} -%}

with

source as (

    -- the messages of other kinds are skipped inside the table scan, their payloads never
    -- read: DuckDB pushes a filter on raw columns into the scan when it is in its where clause
    select
        message_id,
        load_seq,
        ingested_at,
        attributes,
        payload
    from {{ source('raw', 'raw_pipeline_metrics') }}
    where
        {{ json_text('attributes', '$.metric_type') }} is null
        {{ apoa_new_rows(keyword='and') }}

),

candidates as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_extract_paths('payload', incident_paths) }} as incident_fields
    from source

),

renamed as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('incident_fields', incident_paths, 'incident_id') }} as incident_id,
        {{ json_path_text('incident_fields', incident_paths, 'state') }} as state,
        {{ json_path_text('incident_fields', incident_paths, 'version') }} as schema_version,
        {{ json_path_text('incident_fields', incident_paths, 'policy_name') }} as policy_name,
        {{ json_path_text('incident_fields', incident_paths, 'condition_name') }} as condition_name,
        {{ json_path_text('incident_fields', incident_paths, 'condition') }} as condition_resource_name,
        {{ json_path_text('incident_fields', incident_paths, 'severity') }} as severity,
        {{ json_path_text('incident_fields', incident_paths, 'summary') }} as summary,
        {{ epoch_seconds_timestamp(json_path_text('incident_fields', incident_paths, 'started_at')) }}
            as started_at,
        {{ epoch_seconds_timestamp(json_path_text('incident_fields', incident_paths, 'ended_at')) }}
            as ended_at,
        {{ json_path_text('incident_fields', incident_paths, 'metric_type') }} as metric_type,
        {{ json_path_document('incident_fields', incident_paths, 'metric_labels') }} as metric_labels,
        {{ json_path_text('incident_fields', incident_paths, 'resource_type') }} as resource_type,
        {{ json_path_document('incident_fields', incident_paths, 'resource_labels') }} as resource_labels,
        {{ json_path_text('incident_fields', incident_paths, 'resource_name') }} as resource_name,
        -- usually a number as text, sometimes a sentence (a cancelled incident)
        {{ json_path_text('incident_fields', incident_paths, 'observed_value') }} as observed_value,
        {{ dbt.safe_cast(json_path_text('incident_fields', incident_paths, 'observed_value'), type_double()) }}
            as observed_number,
        {{ dbt.safe_cast(json_path_text('incident_fields', incident_paths, 'threshold_value'), type_double()) }}
            as threshold_number,
        {{ json_path_text('incident_fields', incident_paths, 'scoping_project_id') }} as scoping_project_id,
        {{ json_path_text('incident_fields', incident_paths, 'url') }} as url
    from candidates

),

keyed as (

    select
        {{ dbt.concat(['incident_id', "'-'", "coalesce(state, 'unknown')"]) }} as incident_state_id,
        *,
        row_number() over (
            partition by incident_id, state order by {{ apoa_arrival_order() }}
        ) as notification_copy_number
    from renamed
    where incident_id is not null

),

deduplicated as (

    select
        incident_state_id,
        message_id,
        load_seq,
        ingested_at,
        incident_id,
        state,
        schema_version,
        policy_name,
        condition_name,
        condition_resource_name,
        severity,
        summary,
        started_at,
        ended_at,
        metric_type,
        metric_labels,
        resource_type,
        resource_labels,
        resource_name,
        observed_value,
        observed_number,
        threshold_number,
        scoping_project_id,
        url
    from keyed
    where
        notification_copy_number = 1
        {% if apoa_is_incremental() -%}
            and not exists (
                select landed.incident_state_id
                from {{ this }} as landed
                where landed.incident_state_id = keyed.incident_state_id
            )
        {%- endif %}

)

select * from deduplicated
