{%- set text = dbt.type_string() -%}
{%- set failure_window = var('apoa_failure_window_runs') -%}
{%- set flaky_window = var('apoa_flaky_window_runs') -%}

with

findings as (

    select
        finding_id,
        kind,
        family,
        series_key,
        job_key,
        is_default_branch,
        runner_label,
        failure_signature,
        first_job_run_id,
        lead_first_job_run_id,
        last_job_run_id,
        last_good_job_run_id,
        started_at,
        last_scored_at,
        detected_at,
        status,
        resolution,
        revision,
        episode_runs,
        anomalous_runs,
        observed_value,
        peak_observed_value,
        expected_value,
        expected_lower,
        expected_upper,
        baseline_runs,
        scorer,
        scorer_version
    from {{ ref('int_findings_merged') }}

),

-- the job runs findings name, not every job run of the history (four joins with all of
-- them took 0.6 s at 1M job runs)
named_job_runs as (

    select first_job_run_id as job_run_id from findings
    union distinct
    select last_job_run_id as job_run_id from findings
    union distinct
    select lead_first_job_run_id as job_run_id from findings
    union distinct
    select last_good_job_run_id as job_run_id from findings

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
    where job_run_id in (select named_job_runs.job_run_id from named_job_runs)

),

log_signals as (

    select
        job_run_id,
        first_error_line
    from {{ ref('fct_job_run_log_signals') }}
    where job_run_id in (select named_job_runs.job_run_id from named_job_runs)

),

-- part 2: which Cloud Monitoring series, which resource measure. Only the series findings
-- name, with their kind as a column: a constant in the join condition made DuckDB pair
-- every finding with every series in a nested loop.
metric_series as (

    select
        'metric_anomaly' as kind,
        series_key,
        series_name,
        metric_type,
        unit
    from {{ ref('int_metric_series') }}
    where
        series_position = 1
        and series_key in (select findings.series_key from findings)

),

resource_series as (

    select
        'resource_misuse' as kind,
        series_key,
        measure
    from {{ ref('int_resource_series') }}
    where
        series_position = 1
        and series_key in (select findings.series_key from findings)

),

blamed_steps as (

    select
        finding_id,
        step_name,
        step_growth_seconds,
        step_observed_seconds,
        step_baseline_seconds
    from {{ ref('int_episode_steps_ranked') }}
    where
        step_rank = 1
        and (step_growth_seconds > 0 or failed_runs > 0)

),

joined as (

    select
        findings.*,
        case when findings.kind = 'queue_spike' then null else first_runs.repository end
            as repository,
        case when findings.kind = 'queue_spike' then null else first_runs.workflow_name end
            as workflow_name,
        case when findings.kind = 'queue_spike' then null else first_runs.job_name end as job_name,
        case when findings.kind = 'queue_spike' then null else lead_runs.head_branch end as branch,
        first_runs.run_id as first_run_id,
        first_runs.run_number as first_run_number,
        first_runs.html_url as first_run_url,
        first_runs.head_sha as first_head_sha,
        last_runs.run_id as last_run_id,
        last_runs.run_number as last_run_number,
        last_runs.html_url as last_run_url,
        last_runs.head_sha as last_head_sha,
        last_good_runs.head_sha as last_good_head_sha,
        last_good_runs.html_url as last_good_run_url,
        case
            when
                findings.kind in ('queue_spike', 'new_failure_signature', 'resource_misuse', 'metric_anomaly')
                or findings.kind like 'security%'
                then null
            else coalesce(blamed_steps.step_name, first_runs.longest_step_name)
        end as step_name,
        blamed_steps.step_growth_seconds,
        blamed_steps.step_observed_seconds,
        blamed_steps.step_baseline_seconds,
        case when findings.kind = 'new_failure_signature' then log_signals.first_error_line end
            as failure_line,
        metric_series.series_name as metric_series,
        metric_series.metric_type,
        metric_series.unit as metric_unit,
        resource_series.measure as resource_metric
    from findings
    -- left joins: a metric_anomaly finding has no job run
    left join job_runs as first_runs
        on findings.first_job_run_id = first_runs.job_run_id
    left join job_runs as last_runs
        on findings.last_job_run_id = last_runs.job_run_id
    left join job_runs as lead_runs
        on findings.lead_first_job_run_id = lead_runs.job_run_id
    left join job_runs as last_good_runs
        on findings.last_good_job_run_id = last_good_runs.job_run_id
    left join blamed_steps
        on findings.finding_id = blamed_steps.finding_id
    left join log_signals
        on findings.first_job_run_id = log_signals.job_run_id
    left join metric_series
        on findings.kind = metric_series.kind and findings.series_key = metric_series.series_key
    left join resource_series
        on
            findings.kind = resource_series.kind
            and findings.series_key = resource_series.series_key

),

described as (

    select
        *,
        case
            when kind = 'default_branch_broken' then 'critical'
            when kind in ('flaky_job', 'new_failure_signature') then 'warning'
            -- secrets and fork code running with secrets need someone now
            when kind in ('security_secret_in_logs', 'security_fork_pull_request_target')
                then 'critical'
            when kind like 'security%' then 'warning'
            when kind = 'metric_anomaly'
                then
                    case
                        when abs(observed_value - expected_value) >= 2 * (expected_upper - expected_value)
                            then 'critical'
                        else 'warning'
                    end
            -- critical when the episode sits beyond the band by more than the band's own width
            when observed_value - expected_value >= 2 * (expected_upper - expected_value)
                then 'critical'
            else 'warning'
        end as severity,
        case
            when kind like 'security%' then 'occurrences'
            when kind = 'metric_anomaly' then coalesce(metric_unit, '1')
            when kind = 'resource_misuse'
                then case when resource_metric = 'memory_used_bytes' then 'bytes' else 'utilization' end
        end as part_two_unit,
        case family
            when 'new_failure_signature' then 'occurrences'
            when 'failure'
                then
                    case kind
                        when 'default_branch_broken' then 'consecutive_failed_runs'
                        when 'flaky_job' then 'flaky_runs_per_{{ flaky_window }}_runs'
                        else 'failures_per_{{ failure_window }}_runs'
                    end
            else 'seconds'
        end as unit,
        concat(
            coalesce(workflow_name, '?'), ' / ', coalesce(job_name, '?'), ' on ',
            case
                -- the flaky series pools every branch
                when
                    kind in ('resource_misuse', 'metric_anomaly')
                    or kind like 'security%'
                    or is_default_branch is null
                    then 'any branch'
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
        {{ format_decimal('observed_value / nullif(expected_value, 0)') }} as ratio_text,
        cast(cast(peak_observed_value as {{ dbt.type_bigint() }}) as {{ text }}) as peak_text,
        cast(cast(expected_lower as {{ dbt.type_bigint() }}) as {{ text }}) as usual_low_text,
        cast(cast(ceil(expected_value) as {{ dbt.type_bigint() }}) as {{ text }}) as usual_high_text,
        cast(cast(floor(expected_upper) as {{ dbt.type_bigint() }}) as {{ text }}) as usual_upper_text,
        substr(cast(started_at as {{ text }}), 1, 16) as started_text,
        -- part 2 values: utilization in %, bytes in GiB, metric points as sent (3 decimals)
        case
            when resource_metric = 'memory_used_bytes'
                then concat({{ format_decimal('peak_observed_value / 1073741824.0') }}, ' GiB')
            else concat({{ format_decimal('100 * peak_observed_value') }}, '%')
        end as resource_peak_text,
        case
            when resource_metric = 'memory_used_bytes'
                then concat({{ format_decimal('expected_value / 1073741824.0') }}, ' GiB')
            else concat({{ format_decimal('100 * expected_value') }}, '%')
        end as resource_baseline_text,
        cast(round(observed_value, 3) as {{ text }}) as metric_observed_text,
        cast(round(peak_observed_value, 3) as {{ text }}) as metric_peak_text,
        cast(round(expected_value, 3) as {{ text }}) as metric_expected_text,
        cast(round(expected_lower, 3) as {{ text }}) as metric_lower_text,
        cast(round(expected_upper, 3) as {{ text }}) as metric_upper_text,
        {{ format_decimal('abs(observed_value - expected_value) / nullif(expected_upper - expected_value, 0)') }}
            as metric_band_widths_text
    from joined

),

summarized as (

    select
        *,
        case kind
            when 'duration_regression'
                then concat(
                        subject, ' takes ', observed_duration_text, ', ', coalesce(ratio_text, '?'),
                        'x its usual ', expected_duration_text, ', ', since
                    )
            when 'queue_spike'
                then concat(
                        'jobs on runners ', coalesce(runner_label, '?'), ' waited ',
                        observed_duration_text, ' for a runner, ', coalesce(ratio_text, '?'),
                        'x the usual ', expected_duration_text, ', since ', started_text, ' UTC'
                    )
            when 'default_branch_broken'
                then concat(
                        subject,
                        case when status = 'open' then ' is broken: ' else ' was broken: ' end,
                        peak_text, ' runs in a row failed on every attempt, ', since
                    )
            when 'new_failure_signature'
                then concat(
                        subject, ' failed with an error never seen before for this job: `',
                        coalesce(failure_signature, '?'), '` (', cast(episode_runs as {{ text }}),
                        case when episode_runs = 1 then ' time), ' else ' times), ' end, since
                    )
            when 'resource_misuse'
                then concat(
                        subject, ' used ', coalesce(resource_metric, '?'), ' up to ', resource_peak_text,
                        ', usually ', resource_baseline_text,
                        case
                            when
                                resource_metric = 'memory_utilization'
                                and peak_observed_value >= {{ var('apoa_resource_memory_limit_share') }}
                                then ' (at its memory limit)'
                            else ''
                        end,
                        ', in ', cast(anomalous_runs as {{ text }}), ' runs ', since
                    )
            when 'metric_anomaly'
                then concat(
                        coalesce(metric_series, '?'),
                        case when observed_value < expected_value then ' fell to ' else ' rose to ' end,
                        metric_observed_text, ' (peak ', metric_peak_text, '), ',
                        coalesce(metric_band_widths_text, '?'), ' band half-widths from its usual ',
                        metric_expected_text, ' (band ', metric_lower_text, ' to ', metric_upper_text,
                        '), since ', started_text, ' UTC'
                    )
            when 'security_new_runner_label'
                then concat(
                        subject, ' ran on runner labels never seen before in ',
                        coalesce(repository, '?'), ': ', coalesce(runner_label, '?'), ', ', since
                    )
            when 'security_new_deploy_actor'
                then concat(
                        coalesce(workflow_name, '?'), ' (a deploying workflow) in ', coalesce(repository, '?'),
                        ' was started by ', replace(coalesce(failure_signature, '?'), 'actor:', ''),
                        ', never seen before in this repository, ', since
                    )
            when 'security_fork_pull_request_target'
                then concat(
                        coalesce(workflow_name, '?'), ' in ', coalesce(repository, '?'),
                        ' ran on pull_request_target for a pull request from a fork (',
                        replace(coalesce(failure_signature, '?'), 'fork:', ''),
                        '), with the secrets and a write token of the repository, ', since
                    )
            when 'security_secret_in_logs'
                then concat(
                        subject, ' logged a secrets-related line: `',
                        replace(coalesce(failure_signature, '?'), 'log:', ''), '`, ', since
                    )
            when 'flaky_job'
                then concat(
                        subject, ' is flaky: ', peak_text, ' of {{ flaky_window }} consecutive runs ',
                        'failed and no re-run reproduced the failure (acceptable: ', usual_upper_text,
                        '), ', since
                    )
            else concat(
                    subject, ' failed ', peak_text, ' of {{ failure_window }} consecutive runs, usually ',
                    usual_low_text,
                    case when usual_high_text != usual_low_text then concat('-', usual_high_text) else '' end,
                    ', ', since
                )
        end as summary
    from described

),

final as (

    select
        cast(finding_id as {{ text }}) as finding_id,
        cast(kind as {{ text }}) as kind,
        cast(severity as {{ text }}) as severity,
        cast(status as {{ text }}) as status,
        cast(revision as {{ dbt.type_bigint() }}) as revision,
        cast(repository as {{ text }}) as repository,
        cast(workflow_name as {{ text }}) as workflow_name,
        cast(job_name as {{ text }}) as job_name,
        cast(branch as {{ text }}) as branch,
        cast(is_default_branch as {{ dbt.type_boolean() }}) as is_default_branch,
        cast(
            case
                when kind = 'queue_spike' then concat('runners ', coalesce(runner_label, '?'))
                when kind = 'metric_anomaly' then coalesce(metric_series, series_key)
                when kind like 'security%' and job_name is null then coalesce(repository, '?')
                else concat(
                        coalesce(repository, '?'), ' / ', coalesce(workflow_name, '?'), ' / ',
                        coalesce(job_name, '?')
                    )
            end as {{ text }}
        ) as entity,
        cast(job_key as {{ text }}) as job_key,
        cast(runner_label as {{ text }}) as runner_label,
        cast(series_key as {{ text }}) as series_key,
        cast(first_job_run_id as {{ dbt.type_bigint() }}) as first_job_run_id,
        cast(first_run_id as {{ dbt.type_bigint() }}) as first_run_id,
        cast(first_run_number as {{ dbt.type_bigint() }}) as first_run_number,
        cast(first_run_url as {{ text }}) as first_run_url,
        cast(last_job_run_id as {{ dbt.type_bigint() }}) as last_job_run_id,
        cast(last_run_id as {{ dbt.type_bigint() }}) as last_run_id,
        cast(last_run_number as {{ dbt.type_bigint() }}) as last_run_number,
        cast(last_run_url as {{ text }}) as last_run_url,
        cast(first_head_sha as {{ text }}) as first_head_sha,
        cast(last_head_sha as {{ text }}) as last_head_sha,
        cast(last_good_head_sha as {{ text }}) as last_good_head_sha,
        cast(last_good_run_url as {{ text }}) as last_good_run_url,
        cast(started_at as {{ dbt.type_timestamp() }}) as started_at,
        cast(
            case when status = 'resolved' then last_scored_at end as {{ dbt.type_timestamp() }}
        ) as ended_at,
        cast(detected_at as {{ dbt.type_timestamp() }}) as detected_at,
        cast(resolution as {{ text }}) as resolution,
        cast(anomalous_runs as {{ dbt.type_bigint() }}) as anomalous_runs,
        cast(episode_runs as {{ dbt.type_bigint() }}) as episode_runs,
        cast(
            case when kind = 'new_failure_signature' then episode_runs else observed_value end
            as {{ type_double() }}
        ) as observed_value,
        cast(peak_observed_value as {{ type_double() }}) as peak_observed_value,
        cast(expected_value as {{ type_double() }}) as expected_value,
        cast(expected_lower as {{ type_double() }}) as expected_lower,
        cast(expected_upper as {{ type_double() }}) as expected_upper,
        cast(baseline_runs as {{ dbt.type_bigint() }}) as baseline_runs,
        cast(coalesce(part_two_unit, unit) as {{ text }}) as unit,
        cast(step_name as {{ text }}) as step_name,
        cast(step_growth_seconds as {{ type_double() }}) as step_growth_seconds,
        cast(step_observed_seconds as {{ type_double() }}) as step_observed_seconds,
        cast(step_baseline_seconds as {{ type_double() }}) as step_baseline_seconds,
        cast(
            case when kind != 'resource_misuse' then failure_signature end as {{ text }}
        ) as failure_signature,
        cast(failure_line as {{ text }}) as failure_line,
        cast(
            case when kind = 'new_failure_signature' then false end as {{ dbt.type_boolean() }}
        ) as failure_signature_seen_before,
        cast(summary as {{ text }}) as summary,
        cast(metric_series as {{ text }}) as metric_series,
        cast(metric_type as {{ text }}) as metric_type,
        cast(resource_metric as {{ text }}) as resource_metric,
        cast(case when kind = 'resource_misuse' then peak_observed_value end as {{ type_double() }})
            as resource_peak,
        cast(case when kind = 'resource_misuse' then expected_value end as {{ type_double() }})
            as resource_baseline,
        cast(case when kind = 'resource_misuse' then part_two_unit end as {{ text }}) as resource_unit,
        cast(scorer as {{ text }}) as scorer,
        cast(scorer_version as {{ text }}) as scorer_version
    from summarized

)

select * from final
