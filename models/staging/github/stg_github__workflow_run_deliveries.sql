{{
    config(
        materialized='incremental',
        unique_key='delivery_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('ingested_at'),
        incremental_predicates=apoa_merge_predicates('ingested_at'),
        cluster_by=apoa_cluster_by(['run_id']),
    )
}}

{#- Every field staged from a workflow_run delivery: parsed once per payload (json_paths.sql). -#}
{%- set attribute_paths = {
    'github_delivery': '$.github_delivery',
    'apoa_source': '$.apoa_source',
} -%}
{%- set run_paths = {
    'action': '$.action',
    'repository': '$.repository.full_name',
    'default_branch': '$.repository.default_branch',
    'repository_id': '$.repository.id',
    'workflow_definition_name': '$.workflow.name',
    'workflow_definition_path': '$.workflow.path',
    'run_id': '$.workflow_run.id',
    'run_attempt': '$.workflow_run.run_attempt',
    'run_number': '$.workflow_run.run_number',
    'workflow_id': '$.workflow_run.workflow_id',
    'run_name': '$.workflow_run.name',
    'display_title': '$.workflow_run.display_title',
    'run_path': '$.workflow_run.path',
    'event': '$.workflow_run.event',
    'status': '$.workflow_run.status',
    'conclusion': '$.workflow_run.conclusion',
    'head_branch': '$.workflow_run.head_branch',
    'head_sha': '$.workflow_run.head_sha',
    'head_repository': '$.workflow_run.head_repository.full_name',
    'actor_login': '$.workflow_run.actor.login',
    'triggering_actor_login': '$.workflow_run.triggering_actor.login',
    'created_at': '$.workflow_run.created_at',
    'run_started_at': '$.workflow_run.run_started_at',
    'updated_at': '$.workflow_run.updated_at',
    'html_url': '$.workflow_run.html_url',
    'check_suite_id': '$.workflow_run.check_suite_id',
    'pull_requests': '$.workflow_run.pull_requests',
    'first_pull_request_number': '$.workflow_run.pull_requests[0].number',
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
        coalesce({{ json_text('attributes', '$.github_event') }}, 'workflow_run') = 'workflow_run'
        {{ apoa_new_rows(keyword='and') }}
    -- a redelivery (the same GitHub delivery under another message id) keeps its first copy:
    -- `and load_seq in (...)` locally, `qualify ...` on BigQuery (apoa_arrival_order.sql)
    {{ github_first_delivery_copy('workflow_run') }}

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

run_messages as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_delivery') }} as github_delivery,
        {{ json_path_text('attribute_fields', attribute_paths, 'apoa_source') }} as apoa_source,
        {{ json_extract_paths('payload', run_paths) }} as run_fields
    from attributed

),

renamed as (

    select
        coalesce(github_delivery, message_id) as delivery_id,
        message_id,
        load_seq,
        ingested_at,
        coalesce(apoa_source = 'backfill', false) as is_backfill,
        {{ json_path_text('run_fields', run_paths, 'action') }} as action,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'run_id'), dbt.type_bigint()) }} as run_id,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'run_attempt'), dbt.type_bigint()) }}
            as run_attempt,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'run_number'), dbt.type_bigint()) }}
            as run_number,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'workflow_id'), dbt.type_bigint()) }}
            as workflow_id,
        -- older and some current payloads send an empty run name: fall back to the workflow's
        coalesce(
            nullif({{ json_path_text('run_fields', run_paths, 'run_name') }}, ''),
            {{ json_path_text('run_fields', run_paths, 'workflow_definition_name') }}
        ) as workflow_name,
        coalesce(
            {{ json_path_text('run_fields', run_paths, 'run_path') }},
            {{ json_path_text('run_fields', run_paths, 'workflow_definition_path') }}
        ) as workflow_path,
        {{ json_path_text('run_fields', run_paths, 'display_title') }} as display_title,
        {{ json_path_text('run_fields', run_paths, 'event') }} as event,
        {{ json_path_text('run_fields', run_paths, 'status') }} as status,
        {{ json_path_text('run_fields', run_paths, 'conclusion') }} as conclusion,
        {{ json_path_text('run_fields', run_paths, 'head_branch') }} as head_branch,
        {{ json_path_text('run_fields', run_paths, 'head_sha') }} as head_sha,
        {{ json_path_text('run_fields', run_paths, 'head_repository') }} as head_repository,
        {{ json_path_text('run_fields', run_paths, 'actor_login') }} as actor_login,
        {{ json_path_text('run_fields', run_paths, 'triggering_actor_login') }} as triggering_actor_login,
        {{ json_path_text('run_fields', run_paths, 'repository') }} as repository,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'repository_id'), dbt.type_bigint()) }}
            as repository_id,
        {{ json_path_text('run_fields', run_paths, 'default_branch') }} as default_branch,
        {{ iso_timestamp(json_path_text('run_fields', run_paths, 'created_at')) }} as created_at,
        {{ iso_timestamp(json_path_text('run_fields', run_paths, 'run_started_at')) }} as run_started_at,
        {{ iso_timestamp(json_path_text('run_fields', run_paths, 'updated_at')) }} as updated_at,
        {{ json_path_text('run_fields', run_paths, 'html_url') }} as html_url,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'check_suite_id'), dbt.type_bigint()) }}
            as check_suite_id,
        {{ json_path_array('run_fields', run_paths, 'pull_requests') }} as pull_requests,
        {{ dbt.safe_cast(json_path_text('run_fields', run_paths, 'first_pull_request_number'), dbt.type_bigint()) }}
            as first_pull_request_number
    from run_messages

),

ranked as (

    select
        *,
        {{ run_status_rank('status') }} as status_rank
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
        is_backfill,
        action,
        run_id,
        coalesce(run_attempt, 1) as run_attempt,
        run_number,
        workflow_id,
        workflow_name,
        workflow_path,
        display_title,
        event,
        status,
        conclusion,
        head_branch,
        head_sha,
        head_repository,
        actor_login,
        triggering_actor_login,
        repository,
        repository_id,
        default_branch,
        created_at,
        run_started_at,
        updated_at,
        html_url,
        check_suite_id,
        pull_requests,
        cast({{ json_array_length('pull_requests') }} as {{ dbt.type_bigint() }}) as pull_request_count,
        first_pull_request_number,
        status_rank
    from ranked
    {% if apoa_is_incremental() -%}
        -- a redelivery of a delivery already landed keeps the first copy, as a full build does
        where not exists (
                select landed.delivery_id
                from {{ this }} as landed
                where landed.delivery_id = ranked.delivery_id
            )
    {%- endif %}

)

select * from deduplicated
