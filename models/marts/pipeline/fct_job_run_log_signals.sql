{{
    config(
        materialized='incremental',
        unique_key='job_run_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        partition_by=apoa_partition_by('completed_at'),
        cluster_by=apoa_cluster_by(['job_key', 'failure_signature_id']),
    )
}}

-- the incremental branch reads the jobs' changes: depends_on: {{ ref('stg_github__workflow_jobs') }}

with

{% if apoa_is_incremental() -%}

    -- job runs whose row may change: rebuilt job runs, jobs that got newly linked entries, and
    -- the neighbours of changed jobs (entries can move away from them, see link_to_job_runs)
    changed_jobs as (

        select
            job_id,
            run_id,
            runner_name,
            started_at,
            completed_at
        from {{ ref('stg_github__workflow_jobs') }}
        {{ apoa_new_rows('last_load_seq', 'state_load_seq', 'last_ingested_at', 'state_ingested_at') }}

    ),

    touched_job_runs as (

        select job_run_id
        from {{ ref('fct_job_runs') }}
        {{ apoa_new_rows('state_load_seq', 'state_load_seq', 'state_ingested_at', 'state_ingested_at') }}
        union distinct
        select job_run_id
        from {{ ref('int_log_entries_linked_to_job_runs') }}
        {{ apoa_new_rows('link_load_seq', 'state_load_seq', 'link_ingested_at', 'state_ingested_at') }}
        union distinct
        {{ apoa_link_neighbor_jobs('changed_jobs', ref('stg_github__workflow_jobs')) }}

    ),

{% endif -%}

job_runs as (

    select
        job_run_id,
        job_key,
        repository,
        workflow_name,
        job_name,
        run_id,
        run_attempt,
        conclusion,
        is_failure,
        completed_at,
        state_load_seq,
        state_ingested_at
    from {{ ref('fct_job_runs') }}
    {% if apoa_is_incremental() -%}
        where job_run_id in (select touched_job_runs.job_run_id from touched_job_runs)
    {%- endif %}

),

entry_links as (

    select
        log_entry_id,
        job_run_id,
        link_load_seq,
        link_ingested_at
    from {{ ref('int_log_entries_linked_to_job_runs') }}
    where job_run_id in (select job_runs.job_run_id from job_runs)

),

log_entries as (

    select
        log_entry_id,
        logged_at,
        severity_number,
        log_message
    from {{ ref('stg_gcp_logging__log_entries') }}
    where log_entry_id in (select entry_links.log_entry_id from entry_links)

),

linked_entries as (

    select
        entry_links.job_run_id,
        entry_links.log_entry_id,
        entry_links.link_load_seq,
        entry_links.link_ingested_at,
        log_entries.logged_at,
        log_entries.severity_number,
        log_entries.log_message
    from entry_links
    inner join log_entries
        on entry_links.log_entry_id = log_entries.log_entry_id

),

entry_counts as (

    select
        job_run_id,
        count(*) as log_entry_count,
        sum(case when severity_number >= 500 then 1 else 0 end) as error_count,
        sum(case when severity_number >= 400 and severity_number < 500 then 1 else 0 end) as warning_count,
        min(logged_at) as first_logged_at,
        max(logged_at) as last_logged_at,
        max(link_load_seq) as link_load_seq,
        max(link_ingested_at) as link_ingested_at
    from linked_entries
    group by job_run_id

),

ranked_errors as (

    select
        job_run_id,
        logged_at,
        log_message,
        row_number() over (
            partition by job_run_id order by logged_at asc, log_entry_id asc
        ) as error_rank
    from linked_entries
    where severity_number >= 500

),

first_errors as (

    select
        job_run_id,
        logged_at as first_error_at,
        log_message as first_error_line
    from ranked_errors
    where error_rank = 1

),

signals as (

    select
        job_runs.job_run_id,
        job_runs.job_key,
        job_runs.repository,
        job_runs.workflow_name,
        job_runs.job_name,
        job_runs.run_id,
        job_runs.run_attempt,
        job_runs.conclusion,
        job_runs.is_failure,
        job_runs.completed_at,
        coalesce(entry_counts.log_entry_count, 0) as log_entry_count,
        coalesce(entry_counts.error_count, 0) as error_count,
        coalesce(entry_counts.warning_count, 0) as warning_count,
        entry_counts.first_logged_at,
        entry_counts.last_logged_at,
        first_errors.first_error_at,
        first_errors.first_error_line,
        case
            when job_runs.is_failure then {{ failure_signature('first_errors.first_error_line') }}
        end as failure_signature,
        case
            when job_runs.is_failure and first_errors.first_error_line is not null
                then {{ dbt.hash(failure_signature('first_errors.first_error_line')) }}
        end as failure_signature_id,
        case
            when entry_counts.link_load_seq > job_runs.state_load_seq then entry_counts.link_load_seq
            else job_runs.state_load_seq
        end as state_load_seq,
        case
            when entry_counts.link_ingested_at > job_runs.state_ingested_at then entry_counts.link_ingested_at
            else job_runs.state_ingested_at
        end as state_ingested_at
    from job_runs
    left join entry_counts
        on job_runs.job_run_id = entry_counts.job_run_id
    left join first_errors
        on job_runs.job_run_id = first_errors.job_run_id

)

select * from signals
