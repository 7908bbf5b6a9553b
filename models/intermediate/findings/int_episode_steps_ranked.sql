{%- set duration_window = var('apoa_duration_window_runs', 30) -%}
{%- set failure_window = var('apoa_failure_window_runs', 10) -%}

with

episodes as (

    select
        episode_id,
        kind,
        job_key,
        is_default_branch,
        first_series_position,
        last_series_position
    from {{ ref('int_job_run_scores_grouped_into_episodes') }}

),

job_runs_with_baselines as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        is_failure,
        duration_sequence,
        failure_sequence
    from {{ ref('int_job_runs_with_baselines') }}

),

workflow_job_steps as (

    select
        job_id,
        step_name,
        conclusion,
        step_seconds
    from {{ ref('stg_github__workflow_job_steps') }}

),

-- duration episodes: the episode's runs against the baseline window right before it
duration_periods as (

    select
        episodes.episode_id,
        job_runs_with_baselines.job_run_id,
        job_runs_with_baselines.duration_sequence >= episodes.first_series_position as is_episode_run
    from episodes
    inner join job_runs_with_baselines
        on
            episodes.job_key = job_runs_with_baselines.job_key
            and episodes.is_default_branch = job_runs_with_baselines.is_default_branch
            and job_runs_with_baselines.duration_sequence
            between episodes.first_series_position - {{ duration_window }}
            and episodes.last_series_position
    where episodes.kind = 'duration_regression'

),

duration_step_medians as (

    select
        duration_periods.episode_id,
        workflow_job_steps.step_name,
        {{ median('case when duration_periods.is_episode_run then workflow_job_steps.step_seconds end') }}
            as episode_step_seconds,
        {{ median('case when not duration_periods.is_episode_run then workflow_job_steps.step_seconds end') }}
            as baseline_step_seconds
    from duration_periods
    inner join workflow_job_steps
        on duration_periods.job_run_id = workflow_job_steps.job_id
    group by duration_periods.episode_id, workflow_job_steps.step_name

),

duration_step_growth as (

    select
        episode_id,
        step_name,
        episode_step_seconds - coalesce(baseline_step_seconds, 0) as step_growth_seconds,
        cast(null as {{ dbt.type_bigint() }}) as failed_runs
    from duration_step_medians
    where episode_step_seconds is not null

),

-- failure episodes: which step failed in the failing runs of the episode's windows
failure_periods as (

    select
        episodes.episode_id,
        job_runs_with_baselines.job_run_id
    from episodes
    inner join job_runs_with_baselines
        on
            episodes.job_key = job_runs_with_baselines.job_key
            and episodes.is_default_branch = job_runs_with_baselines.is_default_branch
            and job_runs_with_baselines.failure_sequence
            between episodes.first_series_position - {{ failure_window - 1 }}
            and episodes.last_series_position
    where
        episodes.kind = 'failure_rate'
        and job_runs_with_baselines.is_failure

),

failed_steps as (

    select
        failure_periods.episode_id,
        workflow_job_steps.step_name,
        cast(null as {{ type_double() }}) as step_growth_seconds,
        count(*) as failed_runs
    from failure_periods
    inner join workflow_job_steps
        on failure_periods.job_run_id = workflow_job_steps.job_id
    where workflow_job_steps.conclusion in ('failure', 'timed_out')
    group by failure_periods.episode_id, workflow_job_steps.step_name

),

unioned as (

    select * from duration_step_growth
    union all
    select * from failed_steps

),

ranked as (

    select
        episode_id,
        step_name,
        step_growth_seconds,
        failed_runs,
        row_number() over (
            partition by episode_id
            order by
                coalesce(failed_runs, 0) desc,
                coalesce(step_growth_seconds, 0) desc,
                step_name asc
        ) as step_rank
    from unioned

)

select * from ranked
