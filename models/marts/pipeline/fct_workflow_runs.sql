{{
    config(
        materialized='incremental',
        unique_key='run_attempt_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('completed_at'),
        cluster_by=apoa_cluster_by(['repository', 'workflow_name', 'run_attempt_id']),
    )
}}

with

{% if apoa_is_incremental() -%}

    -- run attempts with new deliveries, of the run or of one of its jobs
    touched_attempts as (

        select run_attempt_id
        from {{ ref('stg_github__workflow_runs') }}
        {{ apoa_new_rows('last_load_seq', 'state_load_seq', 'last_ingested_at', 'state_ingested_at') }}
        union distinct
        select
            {{ dbt.concat([
                dbt.safe_cast('run_id', dbt.type_string()),
                "'-'",
                dbt.safe_cast('run_attempt', dbt.type_string()),
            ]) }} as run_attempt_id
        from {{ ref('stg_github__workflow_jobs') }}
        {{ apoa_new_rows('last_load_seq', 'state_load_seq', 'last_ingested_at', 'state_ingested_at') }}

    ),

{% endif -%}

workflow_runs as (

    select
        run_attempt_id,
        load_seq,
        ingested_at,
        run_id,
        run_attempt,
        run_number,
        workflow_id,
        workflow_name,
        workflow_path,
        display_title,
        event,
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
        pull_request_count,
        first_pull_request_number
    from {{ ref('stg_github__workflow_runs') }}
    where
        status = 'completed'
        {% if apoa_is_incremental() -%}
            and run_attempt_id in (select touched_attempts.run_attempt_id from touched_attempts)
        {%- endif %}

),

workflow_jobs as (

    select
        run_id,
        run_attempt,
        load_seq,
        ingested_at,
        conclusion,
        started_at
    from {{ ref('stg_github__workflow_jobs') }}
    where run_id in (select workflow_runs.run_id from workflow_runs)

),

attempt_jobs as (

    select
        run_id,
        run_attempt,
        count(*) as job_count,
        sum(case when {{ is_failed_conclusion('conclusion') }} then 1 else 0 end) as failed_job_count,
        min(started_at) as first_job_started_at,
        max(load_seq) as jobs_load_seq,
        max(ingested_at) as jobs_ingested_at
    from workflow_jobs
    group by run_id, run_attempt

),

joined as (

    select
        workflow_runs.run_attempt_id,
        workflow_runs.run_id,
        workflow_runs.run_attempt,
        workflow_runs.run_number,
        workflow_runs.repository,
        workflow_runs.workflow_id,
        workflow_runs.workflow_name,
        workflow_runs.workflow_path,
        workflow_runs.display_title,
        workflow_runs.event,
        workflow_runs.head_branch,
        workflow_runs.head_sha,
        coalesce(workflow_runs.head_branch = workflow_runs.default_branch, false) as is_default_branch,
        workflow_runs.actor_login,
        workflow_runs.triggering_actor_login,
        workflow_runs.pull_request_count,
        workflow_runs.first_pull_request_number as pull_request_number,
        workflow_runs.conclusion,
        {{ is_failed_conclusion('workflow_runs.conclusion') }} as is_failure,
        workflow_runs.run_attempt > 1 as is_rerun,
        workflow_runs.created_at,
        workflow_runs.run_started_at,
        -- a completed run's last update is its completion
        workflow_runs.updated_at as completed_at,
        {{ seconds_between('workflow_runs.run_started_at', 'workflow_runs.updated_at') }} as duration_seconds,
        {{ seconds_between('workflow_runs.run_started_at', 'attempt_jobs.first_job_started_at') }}
            as queue_seconds,
        coalesce(attempt_jobs.job_count, 0) as job_count,
        coalesce(attempt_jobs.failed_job_count, 0) as failed_job_count,
        workflow_runs.html_url,
        workflow_runs.workflow_name as cicd_pipeline_name,
        workflow_runs.run_id as cicd_pipeline_run_id,
        {{ cicd_result('workflow_runs.conclusion') }} as cicd_pipeline_result,
        case
            when attempt_jobs.jobs_load_seq > workflow_runs.load_seq then attempt_jobs.jobs_load_seq
            else workflow_runs.load_seq
        end as state_load_seq,
        case
            when attempt_jobs.jobs_ingested_at > workflow_runs.ingested_at then attempt_jobs.jobs_ingested_at
            else workflow_runs.ingested_at
        end as state_ingested_at
    from workflow_runs
    left join attempt_jobs
        on
            workflow_runs.run_id = attempt_jobs.run_id
            and workflow_runs.run_attempt = attempt_jobs.run_attempt

)

select * from joined
