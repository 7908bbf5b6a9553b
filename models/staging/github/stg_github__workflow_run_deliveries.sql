{{ config(materialized='view') }}

-- staged with the workflow_job deliveries in one read of the raw payloads
select
    delivery_id,
    message_id,
    load_seq,
    ingested_at,
    is_backfill,
    action,
    run_id,
    run_attempt,
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
    pull_request_count,
    first_pull_request_number,
    status_rank
from {{ ref('stg_github__actions_deliveries') }}
where github_event = 'workflow_run'
