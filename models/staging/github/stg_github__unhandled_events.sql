{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
    )
}}

{%- set attribute_paths = {
    'github_event': '$.github_event',
    'github_delivery': '$.github_delivery',
} -%}
{%- set event_paths = {
    'action': '$.action',
    'repository': '$.repository.full_name',
    'sender_login': '$.sender.login',
    'workflow_job_id': '$.workflow_job.id',
    'workflow_run_id': '$.workflow_run.id',
} -%}

with

source as (

    select
        message_id,
        load_seq,
        ingested_at,
        attributes,
        payload
    from {{ source('raw', 'raw_github_events') }}
    {{ apoa_new_rows() }}

),

attributed as (

    select
        message_id,
        load_seq,
        ingested_at,
        payload,
        {{ json_extract_paths('attributes', attribute_paths) }} as attribute_fields
    from source

),

-- workflow_job and workflow_run deliveries are staged elsewhere; only the rest is parsed
other_messages as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_event') }} as github_event,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_delivery') }} as github_delivery,
        {{ json_extract_paths('payload', event_paths) }} as event_fields
    from attributed
    where
        coalesce({{ json_path_text('attribute_fields', attribute_paths, 'github_event') }}, '')
        not in ('workflow_job', 'workflow_run')

),

renamed as (

    select
        message_id,
        load_seq,
        ingested_at,
        coalesce(github_delivery, message_id) as delivery_id,
        github_event,
        {{ json_path_text('event_fields', event_paths, 'action') }} as action,
        {{ json_path_text('event_fields', event_paths, 'repository') }} as repository,
        {{ json_path_text('event_fields', event_paths, 'sender_login') }} as sender_login,
        case
            when github_event is not null then 'event_not_modeled'
            else 'no_github_event_attribute'
        end as reason,
        {{ json_path_text('event_fields', event_paths, 'workflow_job_id') }} is not null
        or {{ json_path_text('event_fields', event_paths, 'workflow_run_id') }} is not null
            as is_staged_as_workflow_event
    from other_messages

),

unhandled as (

    select
        message_id,
        load_seq,
        ingested_at,
        delivery_id,
        github_event,
        action,
        repository,
        sender_login,
        reason
    from renamed
    -- a message without the attribute that holds a workflow_job / workflow_run is staged there
    where not is_staged_as_workflow_event

)

select * from unhandled
