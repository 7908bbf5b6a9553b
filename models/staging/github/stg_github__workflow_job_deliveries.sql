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
        {{ json_document('payload', '$.workflow_job') }} as workflow_job
    from source
    -- other events are skipped before their payload is parsed
    where coalesce({{ json_text('attributes', '$.github_event') }}, 'workflow_job') = 'workflow_job'

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
        {{ dbt.safe_cast(json_text('workflow_job', '$.id'), dbt.type_bigint()) }} as job_id,
        {{ dbt.safe_cast(json_text('workflow_job', '$.run_id'), dbt.type_bigint()) }} as run_id,
        {{ dbt.safe_cast(json_text('workflow_job', '$.run_attempt'), dbt.type_bigint()) }} as run_attempt,
        repository_full_name as repository,
        repository_default_branch as default_branch,
        {{ json_text('workflow_job', '$.workflow_name') }} as workflow_name,
        {{ json_text('workflow_job', '$.name') }} as job_name,
        {{ json_text('workflow_job', '$.head_branch') }} as head_branch,
        {{ json_text('workflow_job', '$.head_sha') }} as head_sha,
        {{ json_text('workflow_job', '$.status') }} as status,
        {{ json_text('workflow_job', '$.conclusion') }} as conclusion,
        {{ iso_timestamp(json_text('workflow_job', '$.created_at')) }} as created_at,
        {{ iso_timestamp(json_text('workflow_job', '$.started_at')) }} as started_at,
        {{ iso_timestamp(json_text('workflow_job', '$.completed_at')) }} as completed_at,
        {{ json_text('workflow_job', '$.runner_name') }} as runner_name,
        {{ json_text('workflow_job', '$.runner_group_name') }} as runner_group_name,
        {{ json_document('workflow_job', '$.labels') }} as runner_labels,
        {{ json_document('workflow_job', '$.steps') }} as steps,
        {{ json_text('workflow_job', '$.html_url') }} as html_url
    from documents
    where workflow_job is not null

),

ranked as (

    select
        *,
        {{ job_status_rank('status') }} as status_rank,
        row_number() over (partition by delivery_id order by load_seq) as delivery_copy_number
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
        runner_name,
        runner_group_name,
        runner_labels,
        steps,
        html_url,
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
