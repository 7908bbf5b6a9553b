{{
    config(
        materialized='incremental',
        unique_key='log_entry_id',
        incremental_strategy=apoa_insert_only_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('logged_at'),
        cluster_by=apoa_cluster_by(['link_run_id', 'runner_name']),
    )
}}

{#- A message of pipeline-logs is one LogEntry as a log sink exports it. -#}
{%- set entry_paths = {
    'log_name': '$.logName',
    'insert_id': '$.insertId',
    'timestamp': '$.timestamp',
    'receive_timestamp': '$.receiveTimestamp',
    'severity': '$.severity',
    'resource_type': '$.resource.type',
    'resource_labels': '$.resource.labels',
    'labels': '$.labels',
    'text_payload': '$.textPayload',
    'json_payload': '$.jsonPayload',
    'proto_payload': '$.protoPayload',
    'proto_payload_type': '$.protoPayload."@type"',
    'json_message': '$.jsonPayload.message',
    'proto_status_message': '$.protoPayload.status.message',
    'proto_method_name': '$.protoPayload.methodName',
    'http_status': '$.httpRequest.status',
    'http_request_url': '$.httpRequest.requestUrl',
    'trace': '$.trace',
    'span_id': '$.spanId',
    'operation_id': '$.operation.id',
    'github_run_id': '$.labels.github_run_id',
    'github_run_attempt': '$.labels.github_run_attempt',
    'github_job': '$.labels.github_job',
    'github_repository': '$.labels.github_repository',
    'github_workflow': '$.labels.github_workflow',
    'github_step': '$.labels.github_step',
    'runner_name': '$.labels.runner_name',
    'instance_name': '$.labels."compute.googleapis.com/resource_name"',
    'pod_name': '$.resource.labels.pod_name',
    'task_id': '$.resource.labels.task_id',
} -%}

with

source as (

    select
        message_id,
        load_seq,
        ingested_at,
        payload
    from {{ source('raw', 'raw_pipeline_logs') }}
    {{ apoa_new_rows() }}

),

parsed as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_extract_paths('payload', entry_paths) }} as entry_fields
    from source

),

renamed as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('entry_fields', entry_paths, 'log_name') }} as log_name,
        {{ json_path_text('entry_fields', entry_paths, 'insert_id') }} as insert_id,
        {{ json_path_text('entry_fields', entry_paths, 'timestamp') }} as timestamp_text,
        {{ iso_timestamp(json_path_text('entry_fields', entry_paths, 'timestamp')) }} as logged_at,
        {{ iso_timestamp(json_path_text('entry_fields', entry_paths, 'receive_timestamp')) }} as received_at,
        coalesce({{ json_path_text('entry_fields', entry_paths, 'severity') }}, 'DEFAULT') as severity,
        {{ json_path_text('entry_fields', entry_paths, 'resource_type') }} as resource_type,
        {{ json_path_document('entry_fields', entry_paths, 'resource_labels') }} as resource_labels,
        {{ json_path_document('entry_fields', entry_paths, 'labels') }} as labels,
        {{ json_path_text('entry_fields', entry_paths, 'text_payload') }} as text_payload,
        {{ json_path_document('entry_fields', entry_paths, 'json_payload') }} as json_payload,
        {{ json_path_document('entry_fields', entry_paths, 'proto_payload') }} as proto_payload,
        {{ json_path_text('entry_fields', entry_paths, 'proto_payload_type') }} as proto_payload_type,
        {{ json_path_text('entry_fields', entry_paths, 'json_message') }} as json_message,
        {{ json_path_text('entry_fields', entry_paths, 'proto_status_message') }} as proto_status_message,
        {{ json_path_text('entry_fields', entry_paths, 'proto_method_name') }} as proto_method_name,
        {{ dbt.safe_cast(json_path_text('entry_fields', entry_paths, 'http_status'), dbt.type_bigint()) }}
            as http_status,
        {{ json_path_text('entry_fields', entry_paths, 'http_request_url') }} as http_request_url,
        {{ json_path_text('entry_fields', entry_paths, 'trace') }} as trace,
        {{ json_path_text('entry_fields', entry_paths, 'span_id') }} as span_id,
        {{ json_path_text('entry_fields', entry_paths, 'operation_id') }} as operation_id,
        {{ json_path_text('entry_fields', entry_paths, 'github_run_id') }} as label_run_id,
        {{ json_path_text('entry_fields', entry_paths, 'github_run_attempt') }} as label_run_attempt,
        {{ json_path_text('entry_fields', entry_paths, 'github_job') }} as label_job,
        {{ json_path_text('entry_fields', entry_paths, 'github_repository') }} as github_repository,
        {{ json_path_text('entry_fields', entry_paths, 'github_workflow') }} as github_workflow,
        {{ json_path_text('entry_fields', entry_paths, 'github_step') }} as github_step,
        coalesce(
            {{ json_path_text('entry_fields', entry_paths, 'runner_name') }},
            {{ json_path_text('entry_fields', entry_paths, 'instance_name') }},
            {{ json_path_text('entry_fields', entry_paths, 'pod_name') }}
        ) as runner_name,
        {{ json_path_text('entry_fields', entry_paths, 'task_id') }} as task_id
    from parsed

),

-- the link keys: the labels the reusable workflow sets, else its execution id (the
-- generic_task resource's task_id, '<run id>/<attempt>/<job>')
keyed as (

    select
        *,
        {{ surrogate_key(['log_name', 'coalesce(insert_id, message_id)', 'timestamp_text']) }} as log_entry_id,
        case
            when label_run_id is not null then 'labels'
            when {{ regexp_capture('task_id', '^([0-9]+)/[0-9]+/.+$') }} is not null then 'execution_id'
        end as link_source,
        {{ dbt.safe_cast(
            "coalesce(label_run_id, " ~ regexp_capture('task_id', '^([0-9]+)/[0-9]+/.+$') ~ ")",
            dbt.type_bigint()
        ) }} as link_run_id,
        {{ dbt.safe_cast(
            "case when label_run_id is not null then label_run_attempt else "
            ~ regexp_capture('task_id', '^[0-9]+/([0-9]+)/.+$') ~ " end",
            dbt.type_bigint()
        ) }} as link_run_attempt,
        case
            when label_run_id is not null then label_job
            else {{ regexp_capture('task_id', '^[0-9]+/[0-9]+/(.+)$') }}
        end as link_job
    from renamed

),

ranked as (

    select
        *,
        row_number() over (partition by log_entry_id order by {{ apoa_arrival_order() }}) as entry_copy_number
    from keyed

),

deduplicated as (

    select
        log_entry_id,
        message_id,
        load_seq,
        ingested_at,
        log_name,
        insert_id,
        logged_at,
        received_at,
        severity,
        {{ log_severity_number('severity') }} as severity_number,
        resource_type,
        resource_labels,
        labels,
        case
            when text_payload is not null then 'text'
            when json_payload is not null then 'json'
            when proto_payload is not null then 'proto'
        end as payload_type,
        text_payload,
        json_payload,
        proto_payload,
        proto_payload_type,
        coalesce(text_payload, json_message, proto_status_message, proto_method_name) as log_message,
        http_status,
        http_request_url,
        trace,
        span_id,
        operation_id,
        github_repository,
        github_workflow,
        github_step,
        link_source,
        link_run_id,
        link_run_attempt,
        link_job,
        runner_name
    from ranked
    where
        entry_copy_number = 1
        {% if apoa_is_incremental() -%}
            -- a repeated write of an entry already landed keeps the first copy, as a full build does
            and not exists (
                select landed.log_entry_id
                from {{ this }} as landed
                where landed.log_entry_id = ranked.log_entry_id
            )
        {%- endif %}

)

select * from deduplicated
