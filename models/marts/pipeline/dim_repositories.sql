with

workflow_runs as (

    select
        repository,
        repository_id,
        default_branch,
        run_id,
        workflow_name,
        created_at
    from {{ ref('stg_github__workflow_runs') }}

),

job_runs as (

    select
        repository,
        default_branch,
        job_run_id,
        created_at
    from {{ ref('fct_job_runs') }}

),

from_runs as (

    select
        repository,
        {{ value_at_max('repository_id', 'case when repository_id is not null then run_id end') }}
            as repository_id,
        {{ value_at_max('default_branch', 'case when default_branch is not null then run_id end') }}
            as default_branch,
        min(created_at) as first_run_at,
        max(created_at) as last_run_at,
        count(distinct workflow_name) as workflow_count
    from workflow_runs
    where repository is not null
    group by repository

),

from_jobs as (

    select
        repository,
        {{ value_at_max('default_branch', 'case when default_branch is not null then job_run_id end') }}
            as default_branch,
        min(created_at) as first_job_at,
        max(created_at) as last_job_at
    from job_runs
    where repository is not null
    group by repository

),

repositories as (

    select
        coalesce(from_runs.repository, from_jobs.repository) as repository,
        from_runs.repository_id,
        coalesce(from_runs.default_branch, from_jobs.default_branch) as default_branch,
        case
            when from_jobs.first_job_at < from_runs.first_run_at or from_runs.first_run_at is null
                then from_jobs.first_job_at
            else from_runs.first_run_at
        end as first_seen_at,
        case
            when from_jobs.last_job_at > from_runs.last_run_at or from_runs.last_run_at is null
                then from_jobs.last_job_at
            else from_runs.last_run_at
        end as last_seen_at,
        coalesce(from_runs.workflow_count, 0) as workflow_count
    from from_runs
    full outer join from_jobs
        on from_runs.repository = from_jobs.repository

),

final as (

    select
        repository,
        repository_id,
        {{ regexp_capture('repository', '^([^/]+)/') }} as owner,
        {{ regexp_capture('repository', '^[^/]+/(.+)$') }} as repository_name,
        default_branch,
        concat('https://github.com/', repository) as html_url,
        first_seen_at,
        last_seen_at,
        workflow_count,
        repository as vcs_repository_name,
        concat('https://github.com/', repository) as vcs_repository_url_full
    from repositories

)

select * from final
