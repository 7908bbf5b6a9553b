{{ config(materialized='view') }}

-- staged with the workflow_run deliveries in one read of the raw payloads
select
    delivery_id,
    message_id,
    load_seq,
    ingested_at,
    is_backfill,
    action,
    job_id,
    run_id,
    run_attempt,
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
from {{ ref('stg_github__actions_deliveries') }}
where github_event = 'workflow_job'
