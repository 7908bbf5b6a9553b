with

source as (

    select
        {{ raw_finding_event_columns() }}
    from {{ source('apoa', 'raw_finding_events') }}

),

renamed as (

    select
        {{ json_text('payload', '$.event_id') }} as event_id,
        {{ json_text('payload', '$.finding_id') }} as finding_id,
        {{ dbt.safe_cast(json_text('payload', '$.revision'), dbt.type_bigint()) }} as revision,
        {{ json_text('payload', '$.schema_version') }} as schema_version,
        {{ json_text('payload', '$.kind') }} as kind,
        {{ json_text('payload', '$.severity') }} as severity,
        {{ json_text('payload', '$.status') }} as status,
        {{ json_text('payload', '$.entity.repository') }} as repository,
        {{ json_text('payload', '$.entity.workflow') }} as workflow_name,
        {{ json_text('payload', '$.entity.job') }} as job_name,
        {{ json_text('payload', '$.entity.branch') }} as branch,
        {{ json_text('payload', '$.entity.runner_label') }} as runner_label,
        {{ json_text('payload', '$.entity.metric_series') }} as metric_series,
        {{ json_text('payload', '$.entity.display') }} as entity,
        {{ json_text('payload', '$.summary') }} as summary,
        {{ json_text('payload', '$.probable_cause.type') }} as probable_cause_type,
        {{ json_text('payload', '$.probable_cause.text') }} as probable_cause,
        {{ json_text('payload', '$.action.type') }} as action_type,
        {{ json_text('payload', '$.evidence.first_bad_run.url') }} as first_bad_run_url,
        {{ dbt.safe_cast(json_text('payload', '$.evidence.observed_value'), type_double()) }}
            as observed_value,
        {{ dbt.safe_cast(json_text('payload', '$.evidence.expected_value'), type_double()) }}
            as expected_value,
        {{ dbt.safe_cast(json_text('payload', '$.evidence.expected_range.lower'), type_double()) }}
            as expected_lower,
        {{ dbt.safe_cast(json_text('payload', '$.evidence.expected_range.upper'), type_double()) }}
            as expected_upper,
        {{ json_text('payload', '$.evidence.unit') }} as unit,
        {{ iso_timestamp(json_text('payload', '$.detected_at')) }} as detected_at,
        {{ iso_timestamp(json_text('payload', '$.started_at')) }} as started_at,
        {{ iso_timestamp(json_text('payload', '$.ended_at')) }} as ended_at,
        message_id,
        publish_time as published_at,
        landed_at,
        subscription
    from source

),

-- a publisher that crashed after publishing repeats an event (same event_id): keep the first
deduplicated as (

    select
        *,
        row_number() over (
            partition by event_id
            order by published_at asc, message_id asc
        ) as copy_number
    from renamed
    where event_id is not null

),

final as (

    select
        event_id,
        finding_id,
        revision,
        schema_version,
        kind,
        severity,
        status,
        repository,
        workflow_name,
        job_name,
        branch,
        runner_label,
        metric_series,
        entity,
        summary,
        probable_cause_type,
        probable_cause,
        action_type,
        first_bad_run_url,
        observed_value,
        expected_value,
        expected_lower,
        expected_upper,
        unit,
        detected_at,
        started_at,
        ended_at,
        message_id,
        published_at,
        landed_at,
        subscription
    from deduplicated
    where copy_number = 1

)

select * from final
