{#-
    Episodes from point anomalies (the `zscore` scorer's, or any scorer that flags points
    only): gaps and islands over each series' anomalous points. `min_runs` anomalous points
    make an episode, at most `max_gap` normal points may sit between two of them. The episode
    is detected when its min_runs-th anomaly is known, and open while the series' latest point
    could still belong to it. Reads `scored` (every ml_job_run_scores column but episode_*),
    ends in the CTE `scores`. `item_key` names the island's first item in the episode id:
    job_run_id, or for a series whose items are not job runs (a Cloud Monitoring series'
    points) another column that is unique within the series, so two episodes of one series
    never share an id.
-#}
{% macro point_anomaly_episode_ctes(kind, scored, min_runs, max_gap, item_key='job_run_id') -%}
    point_anomalies as (

        select
            series_key,
            series_position,
            {{ item_key }} as item_key,
            known_at,
            series_position - lag(series_position) over (
                partition by series_key order by series_position
            ) as gap_from_previous
        from {{ scored }}
        where is_anomaly

    ),

    point_islands as (

        select
            *,
            sum(case when gap_from_previous is null or gap_from_previous > {{ max_gap + 1 }} then 1 else 0 end)
                over (
                    partition by series_key order by series_position
                    rows between unbounded preceding and current row
                ) as island_number
        from point_anomalies

    ),

    point_numbered as (

        select
            *,
            row_number() over (
                partition by series_key, island_number order by series_position
            ) as anomaly_number
        from point_islands

    ),

    point_series_ends as (

        select
            series_key,
            max(series_position) as last_position
        from {{ scored }}
        group by series_key

    ),

    point_episode_spans as (

        select
            series_key,
            island_number,
            min(series_position) as start_position,
            max(series_position) as end_position,
            max(case when anomaly_number = 1 then item_key end) as start_item_key,
            max(case when anomaly_number <= {{ min_runs }} then known_at end) as detected_at
        from point_numbered
        group by series_key, island_number
        having count(*) >= {{ min_runs }}

    ),

    point_episodes as (

        select
            {{ surrogate_key(["'" ~ kind ~ "'", 'spans.series_key', 'spans.start_item_key']) }}
                as episode_id,
            spans.series_key,
            spans.start_position,
            spans.end_position,
            spans.detected_at,
            case
                when series_ends.last_position - spans.end_position > {{ max_gap }} then 'fixed'
            end as resolution
        from point_episode_spans as spans
        inner join point_series_ends as series_ends
            on spans.series_key = series_ends.series_key

    ),

    scores as (

        select
            scored.*,
            episodes.episode_id,
            episodes.detected_at as episode_detected_at,
            case when episodes.resolution is null then 'open' else 'resolved' end
                as episode_status,
            episodes.resolution as episode_resolution
        from {{ scored }} as scored
        left join point_episodes as episodes
            on
                scored.series_key = episodes.series_key
                and scored.series_position between episodes.start_position and episodes.end_position

    )
{%- endmacro %}
