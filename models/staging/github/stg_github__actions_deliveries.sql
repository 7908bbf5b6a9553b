{{
    config(
        materialized='incremental',
        unique_key='delivery_id',
        incremental_strategy=apoa_insert_only_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('ingested_at'),
        incremental_predicates=apoa_merge_predicates('ingested_at'),
        cluster_by=apoa_cluster_by(['github_event', 'run_id']),
    )
}}

{#-
    workflow_job and workflow_run deliveries staged in one read of raw_github_events: the
    payloads are most of the warehouse's bytes, and two filtered scans (one per event) cost
    about 45% more than one (README, "Data model benchmark"). The two delivery models are
    views over this table. Every staged field is parsed once per payload (json_paths.sql).
-#}
{%- set attribute_paths = {
    'github_event': '$.github_event',
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
{#- one parse for both events (a path absent from the payload gives null); `job.status` and
    `run.status` are the texts of each event's field -#}
{%- set payload_paths = {} -%}
{%- set job = {} -%}
{%- set run = {} -%}
{%- for prefix, paths, fields in [('job_', job_paths, job), ('run_', run_paths, run)] -%}
    {%- for name, path in paths.items() -%}
        {%- do payload_paths.update({prefix ~ name: path}) -%}
        {%- do fields.update({name: json_path_text('payload_fields', payload_paths, prefix ~ name)}) -%}
    {%- endfor -%}
{%- endfor -%}
{#- fields both events carry at different paths: `either.status` is the row's event's; those
    at the same path ($.action, $.repository...) are read as `job.<name>` for either event -#}
{%- set either = {} -%}
{%- for name in ['run_id', 'run_attempt', 'status', 'conclusion', 'head_branch', 'head_sha',
                 'created_at', 'html_url'] -%}
    {%- do either.update({name: "case when github_event = 'workflow_job' then " ~ job[name]
                                ~ " else " ~ run[name] ~ " end"}) -%}
{%- endfor -%}

with

source as (

    -- messages of other events are skipped inside the table scan, their payloads never read:
    -- DuckDB pushes a filter on raw columns into the scan when it is in its where clause
    select
        message_id,
        load_seq,
        ingested_at,
        attributes,
        payload
    from {{ source('raw', 'raw_github_events') }}
    where
        coalesce({{ json_text('attributes', '$.github_event') }}, 'workflow_job')
        in ('workflow_job', 'workflow_run')
        {{ apoa_new_rows(keyword='and') }}
    -- a redelivery (the same GitHub delivery under another message id) keeps its first copy:
    -- `and load_seq in (...)` locally, `qualify ...` on BigQuery (apoa_arrival_order.sql)
    {{ github_first_delivery_copy(['workflow_job', 'workflow_run']) }}

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

parsed as (

    select
        message_id,
        load_seq,
        ingested_at,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_event') }} as github_event_attribute,
        {{ json_path_text('attribute_fields', attribute_paths, 'github_delivery') }} as github_delivery,
        {{ json_path_text('attribute_fields', attribute_paths, 'apoa_source') }} as apoa_source,
        {{ json_extract_paths('payload', payload_paths) }} as payload_fields
    from attributed

),

with_job_id as (

    select
        *,
        {{ dbt.safe_cast(job.job_id, dbt.type_bigint()) }} as job_id
    from parsed

),

classified as (

    select
        *,
        -- a message without the event attribute is whichever event its payload holds
        coalesce(
            github_event_attribute,
            case when job_id is not null then 'workflow_job' else 'workflow_run' end
        ) as github_event
    from with_job_id

),

renamed as (

    select
        github_event,
        coalesce(github_delivery, message_id) as delivery_id,
        message_id,
        load_seq,
        ingested_at,
        coalesce(apoa_source = 'backfill', false) as is_backfill,
        {{ job.action }} as action,
        job_id,
        {{ dbt.safe_cast(either.run_id, dbt.type_bigint()) }} as run_id,
        {{ dbt.safe_cast(either.run_attempt, dbt.type_bigint()) }} as run_attempt,
        {{ dbt.safe_cast(run.run_number, dbt.type_bigint()) }} as run_number,
        {{ dbt.safe_cast(run.workflow_id, dbt.type_bigint()) }} as workflow_id,
        case
            when github_event = 'workflow_job' then {{ job.workflow_name }}
            -- older and some current payloads send an empty run name: fall back to the workflow's
            else coalesce(nullif({{ run.run_name }}, ''), {{ run.workflow_definition_name }})
        end as workflow_name,
        coalesce({{ run.run_path }}, {{ run.workflow_definition_path }}) as workflow_path,
        {{ job.job_name }} as job_name,
        {{ run.display_title }} as display_title,
        {{ run.event }} as event,
        {{ either.status }} as status,
        {{ either.conclusion }} as conclusion,
        {{ either.head_branch }} as head_branch,
        {{ either.head_sha }} as head_sha,
        {{ run.head_repository }} as head_repository,
        {{ run.actor_login }} as actor_login,
        {{ run.triggering_actor_login }} as triggering_actor_login,
        {{ job.repository }} as repository,
        {{ dbt.safe_cast(run.repository_id, dbt.type_bigint()) }} as repository_id,
        {{ job.default_branch }} as default_branch,
        {{ iso_timestamp(either.created_at) }} as created_at,
        {{ iso_timestamp(job.started_at) }} as started_at,
        {{ iso_timestamp(job.completed_at) }} as completed_at,
        {{ iso_timestamp(run.run_started_at) }} as run_started_at,
        {{ iso_timestamp(run.updated_at) }} as updated_at,
        {{ dbt.safe_cast(job.runner_id, dbt.type_bigint()) }} as runner_id,
        {{ job.runner_name }} as runner_name,
        {{ dbt.safe_cast(job.runner_group_id, dbt.type_bigint()) }} as runner_group_id,
        {{ job.runner_group_name }} as runner_group_name,
        {{ json_path_array('payload_fields', payload_paths, 'job_runner_labels') }} as runner_labels,
        {{ json_path_array('payload_fields', payload_paths, 'job_steps') }} as steps,
        {{ either.html_url }} as html_url,
        {{ dbt.safe_cast(run.check_suite_id, dbt.type_bigint()) }} as check_suite_id,
        {{ json_path_array('payload_fields', payload_paths, 'run_pull_requests') }} as pull_requests,
        {{ dbt.safe_cast(run.first_pull_request_number, dbt.type_bigint()) }} as first_pull_request_number,
        {{ job.sender_login }} as sender_login
    from classified

),

kept as (

    select
        github_event,
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
        run_number,
        workflow_id,
        workflow_name,
        workflow_path,
        job_name,
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
        started_at,
        completed_at,
        run_started_at,
        updated_at,
        runner_id,
        runner_name,
        runner_group_id,
        runner_group_name,
        runner_labels,
        steps,
        html_url,
        check_suite_id,
        pull_requests,
        cast({{ json_array_length('pull_requests') }} as {{ dbt.type_bigint() }}) as pull_request_count,
        first_pull_request_number,
        sender_login,
        case
            when github_event = 'workflow_job' then {{ job_status_rank('status') }}
            else {{ run_status_rank('status') }}
        end as status_rank
    from renamed
    where
        (
            github_event = 'workflow_job' and job_id is not null
            or github_event = 'workflow_run' and run_id is not null
        )
        {% if apoa_is_incremental() -%}
            -- a redelivery of a delivery already landed keeps the first copy, as a full build does
            and not exists (
                select landed.delivery_id
                from {{ this }} as landed
                where landed.delivery_id = renamed.delivery_id
            )
        {%- endif %}

)

select * from kept
