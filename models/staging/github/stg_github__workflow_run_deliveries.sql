{{
    config(
        materialized='incremental',
        unique_key='delivery_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
    )
}}

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

-- cut the payload into its small parts once: every json_text() parses its whole input,
-- and the repository object is most of a payload's size
documents as (

    select
        message_id,
        load_seq,
        ingested_at,
        attributes,
        {{ json_text('payload', '$.action') }} as action,
        {{ json_text('payload', '$.repository.full_name') }} as repository_full_name,
        {{ json_text('payload', '$.repository.default_branch') }} as repository_default_branch,
        {{ json_text('payload', '$.workflow.name') }} as workflow_definition_name,
        {{ json_text('payload', '$.workflow.path') }} as workflow_definition_path,
        {{ json_document('payload', '$.workflow_run') }} as workflow_run
    from source
    -- other events are skipped before their payload is parsed
    where coalesce({{ json_text('attributes', '$.github_event') }}, 'workflow_run') = 'workflow_run'

),

renamed as (

    select
        coalesce(
            {{ json_text('attributes', '$.github_delivery') }},
            message_id
        ) as delivery_id,
        message_id,
        load_seq,
        ingested_at,
        action,
        {{ dbt.safe_cast(json_text('workflow_run', '$.id'), dbt.type_bigint()) }} as run_id,
        {{ dbt.safe_cast(json_text('workflow_run', '$.run_attempt'), dbt.type_bigint()) }} as run_attempt,
        {{ dbt.safe_cast(json_text('workflow_run', '$.run_number'), dbt.type_bigint()) }} as run_number,
        {{ dbt.safe_cast(json_text('workflow_run', '$.workflow_id'), dbt.type_bigint()) }} as workflow_id,
        -- older and some current payloads send an empty run name: fall back to the workflow's
        coalesce(
            nullif({{ json_text('workflow_run', '$.name') }}, ''),
            workflow_definition_name
        ) as workflow_name,
        coalesce(
            {{ json_text('workflow_run', '$.path') }},
            workflow_definition_path
        ) as workflow_path,
        {{ json_text('workflow_run', '$.event') }} as event,
        {{ json_text('workflow_run', '$.status') }} as status,
        {{ json_text('workflow_run', '$.conclusion') }} as conclusion,
        {{ json_text('workflow_run', '$.head_branch') }} as head_branch,
        {{ json_text('workflow_run', '$.head_sha') }} as head_sha,
        {{ json_text('workflow_run', '$.actor.login') }} as actor_login,
        {{ json_text('workflow_run', '$.triggering_actor.login') }} as triggering_actor_login,
        repository_full_name as repository,
        repository_default_branch as default_branch,
        {{ iso_timestamp(json_text('workflow_run', '$.created_at')) }} as created_at,
        {{ iso_timestamp(json_text('workflow_run', '$.run_started_at')) }} as run_started_at,
        {{ iso_timestamp(json_text('workflow_run', '$.updated_at')) }} as updated_at,
        {{ json_text('workflow_run', '$.html_url') }} as html_url,
        {{ json_array_length('workflow_run', '$.pull_requests') }} as pull_request_count
    from documents
    where workflow_run is not null

),

ranked as (

    select
        *,
        {{ run_status_rank('status') }} as status_rank,
        row_number() over (partition by delivery_id order by load_seq) as delivery_copy_number
    from renamed
    where
        run_id is not null

),

deduplicated as (

    select
        delivery_id,
        message_id,
        load_seq,
        ingested_at,
        action,
        run_id,
        coalesce(run_attempt, 1) as run_attempt,
        run_number,
        workflow_id,
        workflow_name,
        workflow_path,
        event,
        status,
        conclusion,
        head_branch,
        head_sha,
        actor_login,
        triggering_actor_login,
        repository,
        default_branch,
        created_at,
        run_started_at,
        updated_at,
        html_url,
        cast(pull_request_count as {{ dbt.type_bigint() }}) as pull_request_count,
        status_rank
    from ranked
    where
        delivery_copy_number = 1
        {% if apoa_is_incremental() -%}
            -- a redelivery of a delivery already landed keeps the first copy, as a full build does
            and not exists (
                select landed.delivery_id
                from {{ this }} as landed
                where landed.delivery_id = ranked.delivery_id
            )
        {%- endif %}

)

select * from deduplicated
