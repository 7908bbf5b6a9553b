{#-
    new_failure_signature, a rule shared by every scorer: a failed attempt whose normalized
    failure signature (fct_job_run_log_signals: the first error line with numbers, paths, hex
    ids and timestamps masked) was never seen before for that job, after at least
    `min_history` earlier attempts of the job (a new job has nothing to compare with), once it
    has occurred `min_occurrences` times (a one-off infrastructure hiccup is not reported),
    unless `max_other_jobs` other jobs of the same owner had it first (`is_common_elsewhere`:
    an outage everybody sees is not news for this job).
    The episode is the signature's occurrences that follow within `episode_max_gap` attempts
    of each other: open while it keeps recurring. Reads `relation` (job_run_id, series_key =
    the job, series_position over the job's attempts on every branch, last_position,
    failure_signature, is_common_elsewhere, scored_at, known_at; one row per failed attempt
    with a signature), ends in `scores`.
-#}
{% macro new_signature_ctes(kind, relation) -%}
    {%- set min_history = var('apoa_signature_min_history') -%}
    {%- set gap = var('apoa_signature_episode_max_gap') -%}
    signature_points as (

        select
            *,
            row_number() over (
                partition by series_key, failure_signature
                order by series_position
            ) - 1 as seen_before,
            series_position - lag(series_position) over (
                partition by series_key, failure_signature
                order by series_position
            ) as gap_from_previous
        from {{ relation }}

    ),

    -- occurrences of a signature that follow each other within the gap form one island
    signature_islands as (

        select
            *,
            sum(case when gap_from_previous is null or gap_from_previous > {{ gap }} then 1 else 0 end)
                over (
                    partition by series_key, failure_signature
                    order by series_position
                    rows between unbounded preceding and current row
                ) as island_number
        from signature_points

    ),

    signature_series_ends as (

        select
            series_key,
            max(last_position) as last_position
        from {{ relation }}
        group by series_key

    ),

    -- only the first island of a signature that was new when it appeared is an episode
    signature_episodes as (

        select
            {{ surrogate_key([
                "'" ~ kind ~ "'", 'islands.series_key',
                'max(case when islands.seen_before = 0 then islands.job_run_id end)',
            ]) }} as episode_id,
            islands.series_key,
            islands.failure_signature,
            min(islands.series_position) as start_position,
            max(islands.series_position) as end_position,
            max(
                case when islands.seen_before = {{ var('apoa_signature_min_occurrences') }} - 1 then islands.known_at end
            ) as detected_at,
            case
                when max(series_ends.last_position) - max(islands.series_position) > {{ gap }}
                    then 'fixed'
            end as resolution
        from signature_islands as islands
        inner join signature_series_ends as series_ends
            on islands.series_key = series_ends.series_key
        where islands.island_number = 1
        group by islands.series_key, islands.failure_signature
        having
            min(case when islands.seen_before = 0 then islands.series_position end) > {{ min_history }}
            and count(*) >= {{ var('apoa_signature_min_occurrences') }}
            and max(case when islands.is_common_elsewhere then 1 else 0 end) = 0

    ),

    scores as (

        select
            points.job_run_id,
            points.series_key,
            points.series_position,
            '{{ kind }}' as kind,
            points.scored_at,
            points.known_at,
            -- novelty: 1 for a signature never seen before, 1 / (1 + n) once seen n times
            1.0 / (1.0 + points.seen_before) as observed_value,
            0.0 as expected_value,
            0.0 as lower_bound,
            case
                when points.series_position > {{ min_history }} and not points.is_common_elsewhere
                    then 0.5
                else 1.0
            end as upper_bound,
            points.seen_before = 0
            and points.series_position > {{ min_history }}
            and not points.is_common_elsewhere as is_anomaly,
            1.0 / (1.0 + points.seen_before) as anomaly_probability,
            points.series_position - 1 as history_runs,
            points.failure_signature,
            episodes.episode_id,
            episodes.detected_at as episode_detected_at,
            case when episodes.resolution is null then 'open' else 'resolved' end
                as episode_status,
            episodes.resolution as episode_resolution
        from signature_points as points
        left join signature_episodes as episodes
            on
                points.series_key = episodes.series_key
                and points.failure_signature = episodes.failure_signature
                and points.series_position between episodes.start_position and episodes.end_position

    )
{%- endmacro %}
