{#-
    The `zscore` scorer: the naive comparator. A point is anomalous when it lies more than
    `apoa_zscore_sigmas` (3) standard deviations above the mean of the W points before it, in
    seconds, with no floors, no log scale, no seasonality and no memory of past incidents.
    Episodes are islands of such points (macros/scoring/point_episodes.sql), with the same
    minimum length and gap as every point scorer. Only its numeric and failure-rate scores
    differ from `robust`: the rule kinds (default_branch_broken, flaky_job) are shared.
-#}
{% macro zscore_numeric_ctes(kind, relation, prefix) -%}
    {%- set sigmas = var('apoa_zscore_sigmas') -%}
    {%- set window = var('apoa_' ~ prefix ~ '_window_runs') -%}
    zscore_points as (

        select
            series_key,
            job_run_id,
            series_position,
            observed_value,
            scored_at,
            known_at
        from {{ relation }}

    ),

    zscore_pairs as (

        select
            scored.series_key,
            scored.series_position,
            history.observed_value
        from zscore_points as scored
        inner join {{ apoa_band_rows('zscore_points', 'series_position', window) }} as history
            on
                scored.series_key = history.series_key
                and history.band_block = {{ apoa_band_block('scored.series_position', -window, window) }}
                and history.series_position < scored.series_position
                and history.series_position >= scored.series_position - {{ window }}

    ),

    zscore_stats as (

        select
            series_key,
            series_position,
            count(*) as history_runs,
            avg(observed_value) as mean_value,
            coalesce(stddev_samp(observed_value), 0.0) as standard_deviation
        from zscore_pairs
        group by series_key, series_position

    ),

    zscore_scored as (

        select
            points.job_run_id,
            points.series_key,
            points.series_position,
            '{{ kind }}' as kind,
            points.scored_at,
            points.known_at,
            points.observed_value,
            stats.mean_value as expected_value,
            stats.mean_value - {{ sigmas }} * stats.standard_deviation as lower_bound,
            stats.mean_value + {{ sigmas }} * stats.standard_deviation as upper_bound,
            points.observed_value > stats.mean_value + {{ sigmas }} * stats.standard_deviation
                as is_anomaly,
            case
                when stats.standard_deviation > 0
                    then greatest(
                        0.0,
                        2.0 * {{ normal_cdf('(points.observed_value - stats.mean_value) / stats.standard_deviation') }}
                        - 1.0
                    )
                when points.observed_value > stats.mean_value then 1.0
                else 0.0
            end as anomaly_probability,
            stats.history_runs
        from zscore_points as points
        inner join zscore_stats as stats
            on
                points.series_key = stats.series_key
                and points.series_position = stats.series_position
        where stats.history_runs >= {{ var('apoa_' ~ prefix ~ '_min_history') }}

    ),

    {{ point_anomaly_episode_ctes(
        kind, 'zscore_scored',
        var('apoa_point_episode_min_runs'), var('apoa_point_episode_max_gap')
    ) }}
{%- endmacro %}

{#-
    Naive failure rate: failures in the last N runs against the mean + 3 standard deviations
    of that count over the M runs before the window.
-#}
{% macro zscore_failure_rate_ctes(kind, relation, event_column) -%}
    {%- set window = var('apoa_failure_window_runs') -%}
    {%- set baseline = var('apoa_failure_baseline_runs') -%}
    {%- set sigmas = var('apoa_zscore_sigmas') -%}
    zscore_counts as (

        select
            series_key,
            job_run_id,
            series_position,
            scored_at,
            known_at,
            sum(case when {{ event_column }} then 1 else 0 end) over (
                partition by series_key order by series_position
                rows between {{ window - 1 }} preceding and current row
            ) * 1.0 as observed_value,
            count(*) over (
                partition by series_key order by series_position
                rows between {{ window - 1 }} preceding and current row
            ) as window_runs
        from {{ relation }}

    ),

    zscore_count_stats as (

        select
            *,
            avg(observed_value) over (
                partition by series_key order by series_position
                rows between {{ window + baseline - 1 }} preceding and {{ window }} preceding
            ) as mean_value,
            coalesce(stddev_samp(observed_value) over (
                partition by series_key order by series_position
                rows between {{ window + baseline - 1 }} preceding and {{ window }} preceding
            ), 0.0) as standard_deviation,
            count(*) over (
                partition by series_key order by series_position
                rows between {{ window + baseline - 1 }} preceding and {{ window }} preceding
            ) as history_runs
        from zscore_counts

    ),

    zscore_scored as (

        select
            job_run_id,
            series_key,
            series_position,
            '{{ kind }}' as kind,
            scored_at,
            known_at,
            observed_value,
            mean_value as expected_value,
            greatest(0.0, mean_value - {{ sigmas }} * standard_deviation) as lower_bound,
            mean_value + {{ sigmas }} * standard_deviation as upper_bound,
            observed_value > mean_value + {{ sigmas }} * standard_deviation as is_anomaly,
            case
                when standard_deviation > 0
                    then greatest(
                        0.0,
                        2.0 * {{ normal_cdf('(observed_value - mean_value) / standard_deviation') }} - 1.0
                    )
                when observed_value > mean_value then 1.0
                else 0.0
            end as anomaly_probability,
            history_runs
        from zscore_count_stats
        where
            window_runs = {{ window }}
            and history_runs >= {{ var('apoa_failure_min_baseline_runs') }}

    ),

    {{ point_anomaly_episode_ctes(
        kind, 'zscore_scored',
        var('apoa_failure_point_episode_min_runs'), var('apoa_failure_point_episode_max_gap')
    ) }}
{%- endmacro %}
