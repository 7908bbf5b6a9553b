{#-
    Episodes from point anomalies for series whose items are not all job runs (a Cloud
    Monitoring series' points, a job's resource peaks): gaps and islands over each series'
    anomalous points, like point_anomaly_episode_ctes, but the episode id is built from
    `item_key` (a column that names the island's first item: job_run_id, or the point's
    timestamp), so two episodes of one series never share an id. `min_points` anomalous
    points make an episode, at most `max_gap` normal points sit between two of them; it is
    detected when its min_points-th anomaly is known, and resolved (fixed) once more than
    `max_gap` normal points followed it. Reads `scored` (every ml_job_run_scores column but
    episode_*, plus `item_key`), ends in the CTE `scores`.
-#}
{% macro island_episode_ctes(kind, scored, min_points, max_gap, item_key) -%}
    island_anomalies as (

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

    island_numbered as (

        select
            *,
            sum(case when gap_from_previous is null or gap_from_previous > {{ max_gap + 1 }} then 1 else 0 end)
                over (
                    partition by series_key order by series_position
                    rows between unbounded preceding and current row
                ) as island_number
        from island_anomalies

    ),

    island_ranked as (

        select
            *,
            row_number() over (
                partition by series_key, island_number order by series_position
            ) as anomaly_number
        from island_numbered

    ),

    island_series_ends as (

        select
            series_key,
            max(series_position) as last_position
        from {{ scored }}
        group by series_key

    ),

    island_spans as (

        select
            series_key,
            island_number,
            min(series_position) as start_position,
            max(series_position) as end_position,
            max(case when anomaly_number = 1 then item_key end) as start_item_key,
            max(case when anomaly_number = {{ min_points }} then known_at end) as detected_at
        from island_ranked
        group by series_key, island_number
        having count(*) >= {{ min_points }}

    ),

    island_episodes as (

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
        from island_spans as spans
        inner join island_series_ends as series_ends
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
        left join island_episodes as episodes
            on
                scored.series_key = episodes.series_key
                and scored.series_position between episodes.start_position and episodes.end_position

    )
{%- endmacro %}
