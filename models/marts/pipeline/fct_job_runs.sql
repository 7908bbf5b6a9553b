{{
    config(
        materialized='incremental',
        unique_key='job_run_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('completed_at'),
        cluster_by=apoa_cluster_by(['job_key', 'job_run_id']),
    )
}}

with

{% if apoa_is_incremental() -%}

    -- what changed since the last build: jobs with new deliveries, runs with new deliveries
    changed_jobs as (

        select
            job_id,
            run_id,
            repository,
            job_name,
            head_sha
        from {{ ref('stg_github__workflow_jobs') }}
        {{ apoa_new_rows('last_load_seq', 'state_load_seq', 'last_ingested_at', 'state_ingested_at') }}

    ),

    changed_runs as (

        select run_id
        from {{ ref('stg_github__workflow_runs') }}
        {{ apoa_new_rows('last_load_seq', 'state_load_seq', 'last_ingested_at', 'state_ingested_at') }}

    ),

    changed_run_ids as (

        select distinct run_id from changed_runs

    ),

    jobs_of_changed_runs as (

        select
            all_jobs.job_id,
            all_jobs.repository,
            all_jobs.job_name,
            all_jobs.head_sha
        from {{ ref('stg_github__workflow_jobs') }} as all_jobs
        inner join changed_run_ids
            on all_jobs.run_id = changed_run_ids.run_id

    ),

    changed_commits as (

        select distinct
            repository,
            job_name,
            head_sha
        from (
            select
                changed_jobs.repository,
                changed_jobs.job_name,
                changed_jobs.head_sha
            from changed_jobs
            union all
            select
                jobs_of_changed_runs.repository,
                jobs_of_changed_runs.job_name,
                jobs_of_changed_runs.head_sha
            from jobs_of_changed_runs
        ) as touched

    ),

    -- every attempt of the same job on the same commit: its flaky flag may have flipped
    touched_jobs as (

        select distinct all_jobs.job_id
        from {{ ref('stg_github__workflow_jobs') }} as all_jobs
        inner join changed_commits
            on
                all_jobs.repository = changed_commits.repository
                and all_jobs.job_name = changed_commits.job_name
                and all_jobs.head_sha = changed_commits.head_sha
        union distinct
        select changed_jobs.job_id from changed_jobs
        union distinct
        select jobs_of_changed_runs.job_id from jobs_of_changed_runs

    ),

{% endif -%}

workflow_jobs as (

    select
        job_id,
        load_seq,
        ingested_at,
        run_id,
        run_attempt,
        repository,
        default_branch,
        workflow_name,
        job_name,
        head_branch,
        head_sha,
        conclusion,
        created_at,
        started_at,
        completed_at,
        runner_id,
        runner_name,
        runner_group_name,
        runner_labels,
        html_url
    from {{ ref('stg_github__workflow_jobs') }}
    where
        status = 'completed'
        {% if apoa_is_incremental() -%}
            and job_id in (select touched_jobs.job_id from touched_jobs)
        {%- endif %}

),

-- run-level facts (event, number, path, actors) are the same for every attempt of a run:
-- take them from its latest attempt, so a job whose own attempt's run webhook is missing
-- (a backfilled re-run) still gets them
workflow_runs as (

    select
        run_id,
        load_seq,
        ingested_at,
        run_number,
        workflow_name,
        workflow_path,
        event,
        actor_login,
        first_pull_request_number,
        row_number() over (partition by run_id order by run_attempt desc) as attempt_recency
    from {{ ref('stg_github__workflow_runs') }}
    where run_id in (select workflow_jobs.run_id from workflow_jobs)

),

latest_run_attempts as (

    select
        run_id,
        load_seq,
        ingested_at,
        run_number,
        workflow_name,
        workflow_path,
        event,
        actor_login,
        first_pull_request_number
    from workflow_runs
    where attempt_recency = 1

),

run_attempts as (

    select
        run_id,
        run_attempt,
        triggering_actor_login
    from {{ ref('stg_github__workflow_runs') }}
    where run_id in (select workflow_jobs.run_id from workflow_jobs)

),

-- the longest step; on equal seconds the earlier step (step numbers stay below 100000)
longest_steps as (

    select
        job_id,
        {{ value_at_max('step_name', 'step_seconds * 100000 - step_number') }} as longest_step_name,
        max(step_seconds) as longest_step_seconds
    from {{ ref('stg_github__workflow_job_steps') }}
    where
        step_seconds is not null
        and job_id in (select workflow_jobs.job_id from workflow_jobs)
    group by job_id

),

joined as (

    select
        workflow_jobs.job_id as job_run_id,
        workflow_jobs.repository,
        -- workflow_name is in job payloads since 2022; older ones get it from their run
        coalesce(workflow_jobs.workflow_name, latest_run_attempts.workflow_name) as workflow_name,
        workflow_jobs.job_name,
        workflow_jobs.head_branch,
        workflow_jobs.default_branch,
        coalesce(
            workflow_jobs.head_branch = workflow_jobs.default_branch, false
        ) as is_default_branch,
        latest_run_attempts.event,
        workflow_jobs.run_id,
        workflow_jobs.run_attempt,
        latest_run_attempts.run_number,
        workflow_jobs.job_id,
        workflow_jobs.head_sha,
        workflow_jobs.runner_id,
        workflow_jobs.runner_name,
        workflow_jobs.runner_group_name,
        workflow_jobs.runner_labels,
        workflow_jobs.conclusion,
        {{ is_failed_conclusion('workflow_jobs.conclusion') }} as is_failure,
        workflow_jobs.created_at,
        workflow_jobs.started_at,
        workflow_jobs.completed_at,
        {{ seconds_between('workflow_jobs.created_at', 'workflow_jobs.started_at') }} as queue_seconds,
        {{ seconds_between('workflow_jobs.started_at', 'workflow_jobs.completed_at') }} as duration_seconds,
        workflow_jobs.html_url,
        longest_steps.longest_step_name,
        longest_steps.longest_step_seconds,
        latest_run_attempts.workflow_path,
        latest_run_attempts.actor_login,
        run_attempts.triggering_actor_login,
        latest_run_attempts.first_pull_request_number as pull_request_number,
        workflow_jobs.run_attempt > 1 as is_rerun,
        -- the latest state this row was built from: the incremental watermark
        case
            when latest_run_attempts.load_seq > workflow_jobs.load_seq
                then latest_run_attempts.load_seq
            else workflow_jobs.load_seq
        end as state_load_seq,
        case
            when latest_run_attempts.ingested_at > workflow_jobs.ingested_at
                then latest_run_attempts.ingested_at
            else workflow_jobs.ingested_at
        end as state_ingested_at
    from workflow_jobs
    left join latest_run_attempts
        on workflow_jobs.run_id = latest_run_attempts.run_id
    left join run_attempts
        on
            workflow_jobs.run_id = run_attempts.run_id
            and workflow_jobs.run_attempt = run_attempts.run_attempt
    left join longest_steps
        on workflow_jobs.job_id = longest_steps.job_id

),

keyed as (

    select
        *,
        {{ surrogate_key(['repository', 'workflow_name', 'job_name']) }} as job_key
    from joined

),

-- flaky: the same job on the same commit has both a failed and a successful attempt
commit_verdicts as (

    select
        job_key,
        head_sha,
        max(case when is_failure then 1 else 0 end) as has_failed_attempt,
        max(case when conclusion = 'success' then 1 else 0 end) as has_successful_attempt
    from keyed
    group by job_key, head_sha

),

final as (

    select
        keyed.job_run_id,
        keyed.job_key,
        keyed.repository,
        keyed.workflow_name,
        keyed.job_name,
        keyed.head_branch,
        keyed.is_default_branch,
        keyed.event,
        keyed.run_id,
        keyed.run_attempt,
        keyed.run_number,
        keyed.job_id,
        keyed.head_sha,
        keyed.runner_name,
        keyed.runner_labels,
        keyed.conclusion,
        keyed.is_failure,
        keyed.created_at,
        keyed.started_at,
        keyed.completed_at,
        keyed.queue_seconds,
        keyed.duration_seconds,
        keyed.html_url,
        keyed.longest_step_name,
        keyed.longest_step_seconds,
        keyed.default_branch,
        keyed.workflow_path,
        keyed.actor_login,
        keyed.triggering_actor_login,
        keyed.pull_request_number,
        keyed.runner_id,
        keyed.runner_group_name,
        keyed.is_rerun,
        coalesce(
            commit_verdicts.has_failed_attempt = 1 and commit_verdicts.has_successful_attempt = 1,
            false
        ) as is_flaky_attempt,
        coalesce(
            keyed.is_failure and commit_verdicts.has_successful_attempt = 1, false
        ) as is_flaky_failure,
        keyed.workflow_name as cicd_pipeline_name,
        keyed.run_id as cicd_pipeline_run_id,
        keyed.job_name as cicd_pipeline_task_name,
        keyed.job_id as cicd_pipeline_task_run_id,
        {{ cicd_result('keyed.conclusion') }} as cicd_pipeline_task_run_result,
        keyed.state_load_seq,
        keyed.state_ingested_at
    from keyed
    left join commit_verdicts
        on
            keyed.job_key = commit_verdicts.job_key
            and keyed.head_sha = commit_verdicts.head_sha

)

select * from final
