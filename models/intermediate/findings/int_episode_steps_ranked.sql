{#-
    One row per finding and step name, ranked: for a duration regression how much the step's
    median grew against the baseline window right before the episode, for a failure finding
    how often the step failed in the failed attempts of the episode's runs. Rank 1 is the step to look at.
-#}
{%- set duration_window = var('apoa_duration_window_runs') -%}

with

findings as (

    select
        finding_id,
        family,
        series_key,
        first_series_position,
        last_series_position
    from {{ ref('int_findings_merged') }}
    where family in ('duration_regression', 'failure')

),

duration_series as (

    select
        series_key,
        series_position,
        job_run_id
    from {{ ref('int_duration_series') }}

),

failure_series as (

    select
        series_key,
        series_position,
        job_key,
        run_id,
        has_failure
    from {{ ref('int_failure_series') }}

),

failed_attempts as (

    select
        job_run_id,
        job_key,
        run_id
    from {{ ref('fct_job_runs') }}
    where is_failure

),

-- duration: the episode's runs against the window of runs right before it
duration_periods as (

    select
        findings.finding_id,
        duration_series.job_run_id,
        duration_series.series_position >= findings.first_series_position as is_episode_run
    from findings
    inner join duration_series
        on
            findings.series_key = duration_series.series_key
            and duration_series.series_position
            between findings.first_series_position - {{ duration_window }}
            and findings.last_series_position
    where findings.family = 'duration_regression'

),

duration_step_medians as (

    select
        duration_periods.finding_id,
        workflow_job_steps.step_name,
        {{ median('case when duration_periods.is_episode_run then workflow_job_steps.step_seconds end') }}
            as episode_step_seconds,
        {{ median('case when not duration_periods.is_episode_run then workflow_job_steps.step_seconds end') }}
            as baseline_step_seconds
    from duration_periods
    -- the steps table is read where it is joined, not through an import CTE: a view keeps no
    -- `not materialized`, and DuckDB copied all of its rows (9M at 1M job runs) first
    inner join {{ ref('stg_github__workflow_job_steps') }} as workflow_job_steps
        on duration_periods.job_run_id = workflow_job_steps.job_id
    group by duration_periods.finding_id, workflow_job_steps.step_name

),

duration_step_growth as (

    select
        finding_id,
        step_name,
        episode_step_seconds - coalesce(baseline_step_seconds, 0) as step_growth_seconds,
        episode_step_seconds as step_observed_seconds,
        baseline_step_seconds as step_baseline_seconds,
        cast(null as {{ dbt.type_bigint() }}) as failed_runs
    from duration_step_medians
    where episode_step_seconds is not null

),

-- failures: which step failed in the episode's failed runs
failed_runs as (

    select
        findings.finding_id,
        failed_attempts.job_run_id
    from findings
    inner join failure_series
        on
            findings.series_key = failure_series.series_key
            and failure_series.series_position
            between findings.first_series_position and findings.last_series_position
    inner join failed_attempts
        on
            failure_series.job_key = failed_attempts.job_key
            and failure_series.run_id = failed_attempts.run_id
    where
        findings.family = 'failure'
        and failure_series.has_failure

),

failed_steps as (

    select
        failed_runs.finding_id,
        workflow_job_steps.step_name,
        cast(null as {{ type_double() }}) as step_growth_seconds,
        cast(null as {{ type_double() }}) as step_observed_seconds,
        cast(null as {{ type_double() }}) as step_baseline_seconds,
        count(*) as failed_runs
    from failed_runs
    inner join {{ ref('stg_github__workflow_job_steps') }} as workflow_job_steps
        on failed_runs.job_run_id = workflow_job_steps.job_id
    where workflow_job_steps.conclusion in ('failure', 'timed_out')
    group by failed_runs.finding_id, workflow_job_steps.step_name

),

unioned as (

    select * from duration_step_growth
    union all
    select * from failed_steps

),

ranked as (

    select
        finding_id,
        step_name,
        step_growth_seconds,
        step_observed_seconds,
        step_baseline_seconds,
        failed_runs,
        row_number() over (
            partition by finding_id
            order by
                coalesce(failed_runs, 0) desc,
                coalesce(step_growth_seconds, 0) desc,
                step_name asc
        ) as step_rank
    from unioned

)

select * from ranked
