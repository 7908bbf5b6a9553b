{#-
    The `robust` scorer (version 1): a robust z-score on log durations and a binomial
    bound on failure counts. Portable SQL, no model to train; every threshold is a var.
-#}

{#-
    Duration regression: is this successful run slower than its last N successful runs allow?
    center = median(ln seconds), spread = max(1.4826 * MAD, floor); the band is
    exp(center +/- width * spread) seconds, its upper edge raised to at least
    median * min_ratio and median + min_excess seconds so a +3 s wobble on a 10 s job
    is never a regression. The z-score is scaled so that the (raised) upper edge sits at
    `width`: is_anomaly <=> z > width <=> anomaly_probability > 2 * Phi(width) - 1.
-#}
{% macro robust_duration_regression_scores(relation) -%}
    {%- set width = var('apoa_duration_band_width', 3) -%}
    select
        job_run_id,
        job_key,
        is_default_branch,
        duration_sequence as series_position,
        'duration_regression' as kind,
        completed_at as scored_at,
        duration_seconds as observed_value,
        exp(center) as expected_value,
        lower_bound,
        upper_bound,
        duration_seconds > upper_bound as is_anomaly,
        greatest(
            0.0,
            2.0 * {{ normal_cdf(width ~ ' * (ln(duration_seconds) - center) / (ln(upper_bound) - center)') }} - 1.0
        ) as anomaly_probability,
        duration_history_runs as history_runs,
        'robust' as scorer,
        '1' as scorer_version
    from (
        select
            *,
            exp(center - {{ width }} * spread) as lower_bound,
            greatest(
                exp(center + {{ width }} * spread),
                exp(center) * {{ var('apoa_duration_min_ratio', 1.25) }},
                exp(center) + {{ var('apoa_duration_min_excess_seconds', 30) }}
            ) as upper_bound
        from (
            select
                job_run_id,
                job_key,
                is_default_branch,
                duration_sequence,
                completed_at,
                duration_seconds,
                duration_history_runs,
                duration_log_median as center,
                greatest(
                    1.4826 * duration_log_mad, {{ var('apoa_duration_min_spread', 0.05) }}
                ) as spread
            from {{ relation }}
            where
                duration_sequence is not null
                and duration_history_runs >= {{ var('apoa_duration_min_history', 10) }}
        ) as centered
    ) as banded
{%- endmacro %}

{#-
    Failure rate: does this run's trailing window of N runs (itself included) hold more
    failures than the M runs before that window make likely? p = baseline failure rate
    (floored), the upper bound is the binomial upper quantile by the normal approximation
    with continuity correction, ceil(N p + k sqrt(N p (1 - p)) - 0.5), at least min_upper.
    The z-score is scaled so that upper_bound + 0.5 sits at k.
-#}
{% macro robust_failure_rate_scores(relation) -%}
    {%- set sigmas = var('apoa_failure_band_sigmas', 3) -%}
    select
        job_run_id,
        job_key,
        is_default_branch,
        failure_sequence as series_position,
        'failure_rate' as kind,
        completed_at as scored_at,
        observed_value,
        expected_value,
        lower_bound,
        upper_bound,
        observed_value > upper_bound as is_anomaly,
        greatest(
            0.0,
            2.0 * {{ normal_cdf(sigmas ~ ' * (observed_value - expected_value) / (upper_bound + 0.5 - expected_value)') }} - 1.0
        ) as anomaly_probability,
        failure_baseline_runs as history_runs,
        'robust' as scorer,
        '1' as scorer_version
    from (
        select
            *,
            greatest(0.0, floor(expected_value - {{ sigmas }} * sigma + 0.5)) as lower_bound,
            greatest(
                {{ var('apoa_failure_min_upper_bound', 3) }} * 1.0,
                ceil(expected_value + {{ sigmas }} * sigma - 0.5)
            ) as upper_bound
        from (
            select
                job_run_id,
                job_key,
                is_default_branch,
                failure_sequence,
                completed_at,
                failure_baseline_runs,
                failure_window_failures * 1.0 as observed_value,
                failure_window_runs * baseline_rate as expected_value,
                sqrt(failure_window_runs * baseline_rate * (1.0 - baseline_rate)) as sigma
            from (
                select
                    *,
                    greatest(
                        failure_baseline_failures * 1.0 / failure_baseline_runs,
                        {{ var('apoa_failure_min_rate', 0.02) }}
                    ) as baseline_rate
                from {{ relation }}
                where
                    failure_sequence is not null
                    and failure_window_runs = {{ var('apoa_failure_window_runs', 10) }}
                    and failure_baseline_runs >= {{ var('apoa_failure_min_baseline_runs', 10) }}
            ) as rated
        ) as expected
    ) as banded
{%- endmacro %}
