{%- set text = dbt.type_string() -%}

with

episodes as (

    select
        episode_id,
        kind,
        job_key,
        is_default_branch,
        first_job_run_id,
        last_job_run_id,
        anomalous_runs,
        started_at,
        detected_at,
        status,
        last_anomaly_at,
        observed_value,
        peak_observed_value,
        expected_value,
        expected_lower,
        expected_upper,
        scorer,
        scorer_version
    from {{ ref('int_job_run_scores_grouped_into_episodes') }}

),

job_runs as (

    select
        job_run_id,
        repository,
        workflow_name,
        job_name,
        head_branch,
        run_id,
        run_number,
        head_sha,
        html_url,
        longest_step_name
    from {{ ref('fct_job_runs') }}

),

blamed_steps as (

    select
        episode_id,
        step_name
    from {{ ref('int_episode_steps_ranked') }}
    where
        step_rank = 1
        and (step_growth_seconds > 0 or failed_runs > 0)

),

joined as (

    select
        episodes.episode_id as finding_id,
        episodes.kind,
        episodes.status,
        episodes.job_key,
        episodes.is_default_branch,
        first_runs.repository,
        first_runs.workflow_name,
        first_runs.job_name,
        first_runs.head_branch as branch,
        episodes.first_job_run_id,
        first_runs.run_id as first_run_id,
        first_runs.run_number as first_run_number,
        first_runs.html_url as first_run_url,
        last_runs.html_url as last_run_url,
        first_runs.head_sha as first_head_sha,
        last_runs.head_sha as last_head_sha,
        episodes.started_at,
        episodes.last_anomaly_at,
        episodes.detected_at,
        episodes.anomalous_runs,
        episodes.observed_value,
        episodes.peak_observed_value,
        episodes.expected_value,
        episodes.expected_lower,
        episodes.expected_upper,
        coalesce(blamed_steps.step_name, first_runs.longest_step_name) as step_name,
        episodes.scorer,
        episodes.scorer_version
    from episodes
    inner join job_runs as first_runs
        on episodes.first_job_run_id = first_runs.job_run_id
    inner join job_runs as last_runs
        on episodes.last_job_run_id = last_runs.job_run_id
    left join blamed_steps
        on episodes.episode_id = blamed_steps.episode_id

),

described as (

    select
        *,
        -- critical when the episode sits beyond the band by more than the band's own width
        case
            when observed_value - expected_value >= 2 * (expected_upper - expected_value)
                then 'critical'
            else 'warning'
        end as severity,
        case kind
            when 'duration_regression' then 'seconds'
            else 'failures_per_{{ var("apoa_failure_window_runs", 10) }}_runs'
        end as unit,
        concat(
            coalesce(workflow_name, '?'), ' / ', coalesce(job_name, '?'), ' on ',
            case
                when is_default_branch then coalesce(branch, 'the default branch')
                else 'non-default branches'
            end
        ) as subject,
        concat(
            'since ',
            coalesce(
                concat('run #', cast(first_run_number as {{ text }})),
                concat('run ', cast(first_run_id as {{ text }}))
            ),
            coalesce(concat(' (commit ', substr(first_head_sha, 1, 7), ')'), '')
        ) as since,
        {{ format_duration('observed_value') }} as observed_duration_text,
        {{ format_duration('expected_value') }} as expected_duration_text,
        {{ format_decimal('observed_value / expected_value') }} as ratio_text,
        cast(cast(peak_observed_value as {{ dbt.type_bigint() }}) as {{ text }}) as peak_failures_text,
        cast(cast(expected_lower as {{ dbt.type_bigint() }}) as {{ text }}) as usual_failures_low_text,
        cast(cast(ceil(expected_value) as {{ dbt.type_bigint() }}) as {{ text }}) as usual_failures_high_text
    from joined

),

summarized as (

    select
        *,
        concat(
            subject, ' takes ', observed_duration_text, ', ', ratio_text, 'x its usual ',
            expected_duration_text, ', ', since
        ) as duration_summary,
        concat(
            subject, ' failed ', peak_failures_text,
            ' of {{ var("apoa_failure_window_runs", 10) }} consecutive runs, usually ',
            usual_failures_low_text,
            case
                when usual_failures_high_text != usual_failures_low_text
                    then concat('-', usual_failures_high_text)
                else ''
            end,
            ', ', since
        ) as failure_summary
    from described

),

final as (

    select
        cast(finding_id as {{ text }}) as finding_id,
        cast(kind as {{ text }}) as kind,
        cast(severity as {{ text }}) as severity,
        cast(status as {{ text }}) as status,
        cast(1 as {{ dbt.type_bigint() }}) as revision,
        cast(repository as {{ text }}) as repository,
        cast(workflow_name as {{ text }}) as workflow_name,
        cast(job_name as {{ text }}) as job_name,
        cast(branch as {{ text }}) as branch,
        cast(is_default_branch as {{ dbt.type_boolean() }}) as is_default_branch,
        cast(
            concat(
                coalesce(repository, '?'), ' / ', coalesce(workflow_name, '?'), ' / ',
                coalesce(job_name, '?')
            ) as {{ text }}
        ) as entity,
        cast(job_key as {{ text }}) as job_key,
        cast(first_job_run_id as {{ dbt.type_bigint() }}) as first_job_run_id,
        cast(first_run_id as {{ dbt.type_bigint() }}) as first_run_id,
        cast(first_run_number as {{ dbt.type_bigint() }}) as first_run_number,
        cast(first_run_url as {{ text }}) as first_run_url,
        cast(last_run_url as {{ text }}) as last_run_url,
        cast(first_head_sha as {{ text }}) as first_head_sha,
        cast(last_head_sha as {{ text }}) as last_head_sha,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(
            case when status = 'resolved' then last_anomaly_at end as {{ dbt.type_timestamp() }}
        ) as ended_at,
        cast(detected_at as {{ dbt.type_timestamp() }}) as detected_at,
        cast(anomalous_runs as {{ dbt.type_bigint() }}) as anomalous_runs,
        cast(observed_value as {{ type_double() }}) as observed_value,
        cast(expected_value as {{ type_double() }}) as expected_value,
        cast(expected_lower as {{ type_double() }}) as expected_lower,
        cast(expected_upper as {{ type_double() }}) as expected_upper,
        cast(unit as {{ text }}) as unit,
        cast(step_name as {{ text }}) as step_name,
        cast(
            case kind when 'duration_regression' then duration_summary else failure_summary end
            as {{ text }}
        ) as summary,
        cast(scorer as {{ text }}) as scorer,
        cast(scorer_version as {{ text }}) as scorer_version
    from summarized

)

select * from final
