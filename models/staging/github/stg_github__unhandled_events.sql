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
    from {{ source('raw', 'raw_github_events') }}
    where
        coalesce({{ json_text('attributes', '$.github_event') }}, '') not in ('workflow_job', 'workflow_run')
        {{ apoa_new_rows(keyword='and') }}

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

other_messages as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_event') }} as github_event,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_delivery') }} as github_delivery,
        payload,
        {{ json_extract_paths('payload', event_paths) }} as event_fields
    from attributed

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
        -- only a message without the attribute can still be a workflow event (staged as one
        -- when its payload holds the object); a case reads those payloads alone
        case
            when github_event is null
                then
                    {{ json_text('payload', '$.workflow_job.id') }} is not null
                    or {{ json_text('payload', '$.workflow_run.id') }} is not null
            else false
        end as is_staged_as_workflow_event
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
