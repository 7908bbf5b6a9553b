{#-
    default_branch_broken, a rule shared by every scorer: on the default branch, a streak of
    consecutive runs that failed on every attempt (re-runs did not help) after a mostly green
    stretch. The streak must be longer than the job's recent failure rate explains: at least
    max(min_runs, ln(alpha) / ln(p)) runs, p = failure rate of the R runs before the streak
    (at least the floor). A job failing 60% of the time needs a long streak to count as
    broken; one that was green needs `min_runs`. The episode ends at the streak's last run
    (the next run succeeded: green restored); it is open while the latest run is still red.
    Reads int_failure_series (`relation`), ends in the CTE `scores`.
-#}
{% macro broken_streak_ctes(kind, relation) -%}
    {%- set min_runs = var('apoa_broken_min_runs') -%}
    {%- set prior_runs = var('apoa_broken_prior_runs') -%}
    {%- set min_prior = var('apoa_broken_min_prior_runs') -%}
    {%- set floor_rate = var('apoa_broken_min_rate') -%}
    {%- set alpha = var('apoa_broken_alpha') -%}
    broken_points as (

        select
            series_key,
            job_run_id,
            series_position,
            scored_at,
            known_at,
            is_failure,
            is_broken,
            coalesce(sum(case when is_failure then 1 else 0 end) over (
                partition by series_key order by series_position
                rows between {{ prior_runs }} preceding and 1 preceding
            ), 0) as prior_failures,
            count(*) over (
                partition by series_key order by series_position
                rows between {{ prior_runs }} preceding and 1 preceding
            ) as prior_runs,
            coalesce(max(case when not is_broken then series_position end) over (
                partition by series_key order by series_position
                rows between unbounded preceding and current row
            ), 0) as last_green_position
        from {{ relation }}
        where is_default_branch

    ),

    broken_streaks as (

        select
            points.*,
            case
                when points.is_broken then points.series_position - points.last_green_position
                else 0
            end as streak_runs,
            starts.prior_runs as streak_prior_runs,
            -- how many red runs in a row the recent failure rate makes unlikely (< alpha)
            greatest(
                {{ min_runs }},
                coalesce(cast(ceil(
                    ln({{ alpha }})
                    / ln(least(0.95, greatest(
                        {{ floor_rate }},
                        coalesce(starts.prior_failures * 1.0 / nullif(starts.prior_runs, 0), 0.0)
                    )))
                ) as {{ dbt.type_bigint() }}), {{ min_runs }})
            ) as required_runs
        from broken_points as points
        left join broken_points as starts
            on
                points.series_key = starts.series_key
                and starts.series_position = points.last_green_position + 1

    ),

    broken_series_ends as (

        select
            series_key,
            max(series_position) as last_position
        from broken_points
        group by series_key

    ),

    broken_episode_spans as (

        select
            series_key,
            last_green_position + 1 as start_position,
            max(series_position) as end_position,
            max(streak_runs) as streak_runs,
            max(case when streak_runs = required_runs then known_at end) as detected_at
        from broken_streaks
        where
            is_broken
            and streak_prior_runs >= {{ min_prior }}
        group by series_key, last_green_position
        having max(streak_runs) >= max(required_runs)

    ),

    broken_episodes as (

        select
            {{ surrogate_key(["'" ~ kind ~ "'", 'spans.series_key', 'starts.job_run_id']) }}
                as episode_id,
            spans.series_key,
            spans.start_position,
            spans.end_position,
            spans.detected_at,
            case when series_ends.last_position > spans.end_position then 'fixed' end as resolution
        from broken_episode_spans as spans
        inner join broken_points as starts
            on
                spans.series_key = starts.series_key
                and spans.start_position = starts.series_position
        inner join broken_series_ends as series_ends
            on spans.series_key = series_ends.series_key

    ),

    scores as (

        select
            streaks.job_run_id,
            streaks.series_key,
            streaks.series_position,
            '{{ kind }}' as kind,
            streaks.scored_at,
            streaks.known_at,
            streaks.streak_runs * 1.0 as observed_value,
            0.0 as expected_value,
            0.0 as lower_bound,
            (streaks.required_runs - 1) * 1.0 as upper_bound,
            streaks.streak_runs >= streaks.required_runs as is_anomaly,
            case
                when streaks.streak_runs >= streaks.required_runs then 1.0
                else streaks.streak_runs * 1.0 / streaks.required_runs
            end as anomaly_probability,
            streaks.prior_runs as history_runs,
            episodes.episode_id,
            episodes.detected_at as episode_detected_at,
            case when episodes.resolution is null then 'open' else 'resolved' end
                as episode_status,
            episodes.resolution as episode_resolution
        from broken_streaks as streaks
        left join broken_episodes as episodes
            on
                streaks.series_key = episodes.series_key
                and streaks.series_position between episodes.start_position and episodes.end_position
        where streaks.streak_prior_runs >= {{ min_prior }} or not streaks.is_broken

    )
{%- endmacro %}
