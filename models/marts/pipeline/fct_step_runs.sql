{{
    config(
        materialized='incremental',
        unique_key='job_step_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('job_completed_at'),
        cluster_by=apoa_cluster_by(['job_key', 'job_run_id']),
        pre_hook="{{ apoa_delete_rows_of_changed_keys('job_run_id', ref('fct_job_runs'), 'job_run_id',
            'state_load_seq', 'state_load_seq', 'state_ingested_at', 'state_ingested_at') }}",
    )
}}

with

-- job runs built or rebuilt since the last build of this model
job_runs as (

    select
        job_run_id,
        job_key,
        repository,
        workflow_name,
        job_name,
        run_id,
        run_attempt,
        head_branch,
        is_default_branch,
        completed_at,
        state_load_seq,
        state_ingested_at
    from {{ ref('fct_job_runs') }}
    {{ apoa_new_rows('state_load_seq', 'state_load_seq', 'state_ingested_at', 'state_ingested_at') }}

),

workflow_job_steps as (

    select
        job_step_id,
        job_id,
        step_number,
        step_name,
        status,
        conclusion,
        started_at,
        completed_at,
        step_seconds
    from {{ ref('stg_github__workflow_job_steps') }}
    where job_id in (select job_runs.job_run_id from job_runs)

),

joined as (

    select
        workflow_job_steps.job_step_id,
        job_runs.job_run_id,
        job_runs.job_key,
        job_runs.repository,
        job_runs.workflow_name,
        job_runs.job_name,
        job_runs.run_id,
        job_runs.run_attempt,
        job_runs.head_branch,
        job_runs.is_default_branch,
        workflow_job_steps.step_number,
        workflow_job_steps.step_name,
        workflow_job_steps.status,
        workflow_job_steps.conclusion,
        {{ is_failed_conclusion('workflow_job_steps.conclusion') }} as is_failure,
        workflow_job_steps.started_at,
        workflow_job_steps.completed_at,
        workflow_job_steps.step_seconds as duration_seconds,
        job_runs.completed_at as job_completed_at,
        job_runs.state_load_seq,
        job_runs.state_ingested_at
    from workflow_job_steps
    inner join job_runs
        on workflow_job_steps.job_id = job_runs.job_run_id

)

select * from joined
