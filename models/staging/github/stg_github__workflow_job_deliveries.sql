{{
    config(
        materialized='incremental',
        unique_key='delivery_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('ingested_at'),
        incremental_predicates=apoa_merge_predicates('ingested_at'),
        cluster_by=apoa_cluster_by(['job_id']),
    )
}}

{#- Every field staged from a workflow_job delivery: parsed once per payload (json_paths.sql). -#}
{%- set attribute_paths = {
    'github_delivery': '$.github_delivery',
    'apoa_source': '$.apoa_source',
} -%}
{%- set job_paths = {
    'action': '$.action',
    'repository': '$.repository.full_name',
    'default_branch': '$.repository.default_branch',
    'job_id': '$.workflow_job.id',
    'run_id': '$.workflow_job.run_id',
    'run_attempt': '$.workflow_job.run_attempt',
    'workflow_name': '$.workflow_job.workflow_name',
    'job_name': '$.workflow_job.name',
    'head_branch': '$.workflow_job.head_branch',
    'head_sha': '$.workflow_job.head_sha',
    'status': '$.workflow_job.status',
    'conclusion': '$.workflow_job.conclusion',
    'created_at': '$.workflow_job.created_at',
    'started_at': '$.workflow_job.started_at',
    'completed_at': '$.workflow_job.completed_at',
    'runner_id': '$.workflow_job.runner_id',
    'runner_name': '$.workflow_job.runner_name',
    'runner_group_id': '$.workflow_job.runner_group_id',
    'runner_group_name': '$.workflow_job.runner_group_name',
    'runner_labels': '$.workflow_job.labels',
    'steps': '$.workflow_job.steps',
    'html_url': '$.workflow_job.html_url',
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
        coalesce({{ json_text('attributes', '$.github_event') }}, 'workflow_job') = 'workflow_job'
        {{ apoa_new_rows(keyword='and') }}
    -- a redelivery (the same GitHub delivery under another message id) keeps its first copy:
    -- `and load_seq in (...)` locally, `qualify ...` on BigQuery (apoa_arrival_order.sql)
    {{ github_first_delivery_copy('workflow_job') }}

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

job_messages as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_delivery') }} as github_delivery,
        {{ json_path_text('attribute_fields', attribute_paths, 'apoa_source') }} as apoa_source,
        {{ json_extract_paths('payload', job_paths) }} as job_fields
    from attributed

),

renamed as (

    select
        coalesce(github_delivery, message_id) as delivery_id,
        message_id,
        load_seq,
        ingested_at,
        coalesce(apoa_source = 'backfill', false) as is_backfill,
        {{ json_path_text('job_fields', job_paths, 'action') }} as action,
        {{ dbt.safe_cast(json_path_text('job_fields', job_paths, 'job_id'), dbt.type_bigint()) }} as job_id,
        {{ dbt.safe_cast(json_path_text('job_fields', job_paths, 'run_id'), dbt.type_bigint()) }} as run_id,
        {{ dbt.safe_cast(json_path_text('job_fields', job_paths, 'run_attempt'), dbt.type_bigint()) }}
            as run_attempt,
        {{ json_path_text('job_fields', job_paths, 'repository') }} as repository,
        {{ json_path_text('job_fields', job_paths, 'default_branch') }} as default_branch,
        {{ json_path_text('job_fields', job_paths, 'workflow_name') }} as workflow_name,
        {{ json_path_text('job_fields', job_paths, 'job_name') }} as job_name,
        {{ json_path_text('job_fields', job_paths, 'head_branch') }} as head_branch,
        {{ json_path_text('job_fields', job_paths, 'head_sha') }} as head_sha,
        {{ json_path_text('job_fields', job_paths, 'status') }} as status,
        {{ json_path_text('job_fields', job_paths, 'conclusion') }} as conclusion,
        {{ iso_timestamp(json_path_text('job_fields', job_paths, 'created_at')) }} as created_at,
        {{ iso_timestamp(json_path_text('job_fields', job_paths, 'started_at')) }} as started_at,
        {{ iso_timestamp(json_path_text('job_fields', job_paths, 'completed_at')) }} as completed_at,
        {{ dbt.safe_cast(json_path_text('job_fields', job_paths, 'runner_id'), dbt.type_bigint()) }}
            as runner_id,
        {{ json_path_text('job_fields', job_paths, 'runner_name') }} as runner_name,
        {{ dbt.safe_cast(json_path_text('job_fields', job_paths, 'runner_group_id'), dbt.type_bigint()) }}
            as runner_group_id,
        {{ json_path_text('job_fields', job_paths, 'runner_group_name') }} as runner_group_name,
        {{ json_path_array('job_fields', job_paths, 'runner_labels') }} as runner_labels,
        {{ json_path_array('job_fields', job_paths, 'steps') }} as steps,
        {{ json_path_text('job_fields', job_paths, 'html_url') }} as html_url,
        {{ json_path_text('job_fields', job_paths, 'sender_login') }} as sender_login
    from job_messages

),

ranked as (

    select
        *,
        {{ job_status_rank('status') }} as status_rank
    from renamed
    where
        job_id is not null

),

deduplicated as (

    select
        delivery_id,
        message_id,
        load_seq,
        ingested_at,
        is_backfill,
        action,
        job_id,
        run_id,
        -- payloads from before re-runs existed carry no attempt: that was attempt 1
        coalesce(run_attempt, 1) as run_attempt,
        repository,
        default_branch,
        workflow_name,
        job_name,
        head_branch,
        head_sha,
        status,
        conclusion,
        created_at,
        started_at,
        completed_at,
        runner_id,
        runner_name,
        runner_group_id,
        runner_group_name,
        runner_labels,
        steps,
        html_url,
        sender_login,
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
