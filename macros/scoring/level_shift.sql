{#-
    The `robust` scorer for numeric series (durations, queue times): a level-shift detector.

    Input `relation` (int_duration_series, int_queue_series): series_key, job_run_id,
    series_position, observed_value, log_value (ln of the value plus `log_offset`),
    season_bucket, scored_at, known_at. Output: CTEs ending in `scores`, the columns of
    ml_job_run_scores (see macros/scoring/_scoring__macros.yml).

    1. Baseline of a point: median and MAD of log_value over the W points before it (never
       the point itself), spread = max(1.4826 MAD, floor). Seasonality: each point's offset
       is the shrunk median residual of earlier points in its hour-of-week block; the
       deseasonalized baseline is used where its spread is smaller by `season_min_gain`.
    2. A level shift starts at point c when c itself and the median of the k points
       c .. c+k-1 are above the shift threshold: center + max(shift_sigmas * the standard
       error of that median against the baseline's, 1.2533 * spread * sqrt(1/k + 1/n), a
       relative floor, an absolute floor). A lone slow run, or two, move that median by nothing.
    3. The episode runs from c, judged against the baseline frozen at c, until the level
       returns (the k-point median at or below halfway between the old center and the
       threshold: "fixed", ending at the last point above that) or it has held for `accept_after_runs` points ("accepted": the new
       level becomes the baseline from there on).
    4. Second pass: baselines exclude the points of first-pass episodes (past incidents do not
       widen thresholds) and restart at accepted shifts; shifts and episodes are found again
       on them. Those are the ones reported, and the point bands come from them.
-#}
{% macro robust_level_shift_ctes(kind, relation, prefix, log_offset=0) -%}
    {%- set p = {
        'w': var('apoa_' ~ prefix ~ '_window_runs'),
        'min_history': var('apoa_' ~ prefix ~ '_min_history'),
        'k': var('apoa_' ~ prefix ~ '_persistence_runs'),
        'shift_sigmas': var('apoa_' ~ prefix ~ '_shift_sigmas'),
        'width': var('apoa_' ~ prefix ~ '_band_width'),
        'min_spread': var('apoa_' ~ prefix ~ '_min_spread'),
        'min_ratio': var('apoa_' ~ prefix ~ '_min_ratio'),
        'min_excess': var('apoa_' ~ prefix ~ '_min_excess_seconds'),
        'accept': var('apoa_' ~ prefix ~ '_accept_after_runs'),
        'seasonal': var('apoa_' ~ prefix ~ '_seasonality'),
        'log_offset': log_offset,
    } -%}
    {%- set reach = p.w + 2 * p.accept + p.k -%}

    points as (

        select
            series_key,
            job_run_id,
            series_position,
            observed_value,
            log_value,
            season_bucket,
            scored_at,
            known_at
        from {{ relation }}

    ),

    -- each point with the W points before it: the trailing level the residuals are taken from
    level_pairs as (

        select
            scored.series_key,
            scored.series_position,
            history.log_value
        from points as scored
        inner join {{ apoa_band_rows('points', 'series_position', p.w) }} as history
            on
                scored.series_key = history.series_key
                and history.band_block = {{ apoa_band_block('scored.series_position', -p.w, p.w) }}
                and history.series_position < scored.series_position
                and history.series_position >= scored.series_position - {{ p.w }}

    ),

    levels as (

        select
            series_key,
            series_position,
            count(*) as level_runs,
            {{ median('log_value') }} as level
        from level_pairs
        group by series_key, series_position

    ),

    residuals as (

        select
            points.*,
            case
                when levels.level_runs >= {{ p.min_history }} then points.log_value - levels.level
            end as residual,
            row_number() over (
                partition by points.series_key, points.season_bucket
                order by points.series_position
            ) as bucket_position
        from points
        left join levels
            on
                points.series_key = levels.series_key
                and points.series_position = levels.series_position

    ),

    -- seasonality: the earlier points of the same hour-of-week block, and how far they sat
    -- from their trailing level
    season_pairs as (

        select
            scored.series_key,
            scored.series_position,
            history.residual
        from residuals as scored
        inner join {{ apoa_band_rows('residuals', 'bucket_position', var('apoa_season_window_runs')) }} as history
            on
                scored.series_key = history.series_key
                and scored.season_bucket = history.season_bucket
                and history.band_block = {{ apoa_band_block(
                    'scored.bucket_position',
                    -var('apoa_season_window_runs'), var('apoa_season_window_runs')
                ) }}
                and history.bucket_position < scored.bucket_position
                and history.bucket_position >= scored.bucket_position - {{ var('apoa_season_window_runs') }}
        where history.residual is not null

    ),

    season_offsets as (

        select
            series_key,
            series_position,
            count(*) as season_runs,
            {{ median('residual') }} as season_median
        from season_pairs
        group by series_key, series_position

    ),

    adjusted as (

        select
            residuals.series_key,
            residuals.job_run_id,
            residuals.series_position,
            residuals.observed_value,
            residuals.log_value,
            residuals.scored_at,
            residuals.known_at,
            {% if p.seasonal -%}
                coalesce(
                    case
                        when season_offsets.season_runs >= {{ var('apoa_season_min_runs') }}
                            then season_offsets.season_median * season_offsets.season_runs
                            / (season_offsets.season_runs + {{ var('apoa_season_min_runs') }})
                    end,
                    0.0
                )
            {%- else -%}
                0.0
            {%- endif %} as season_offset
        from residuals
        left join season_offsets
            on
                residuals.series_key = season_offsets.series_key
                and residuals.series_position = season_offsets.series_position

    ),

    -- the k points from each point on: does a new level hold?
    forward_pairs as (

        select
            scored.series_key,
            scored.series_position as scored_position,
            later.series_position,
            later.log_value,
            later.log_value - later.season_offset as adjusted_value,
            later.known_at
        from adjusted as scored
        inner join {{ apoa_band_rows('adjusted', 'series_position', p.k) }} as later
            on
                scored.series_key = later.series_key
                and later.band_block = {{ apoa_band_block('scored.series_position', 0, p.k) }}
                and later.series_position >= scored.series_position
                and later.series_position < scored.series_position + {{ p.k }}

    ),

    forward_levels as (

        select
            series_key,
            scored_position as series_position,
            count(*) as forward_runs,
            {{ median('log_value') }} as raw_forward_level,
            {{ median('adjusted_value') }} as adjusted_forward_level,
            -- the first three: a new level starts with a majority, not with one noisy run
            {{ median('case when series_position < scored_position + 3 then log_value end') }}
                as raw_onset_level,
            {{ median('case when series_position < scored_position + 3 then adjusted_value end') }}
                as adjusted_onset_level,
            max(known_at) as confirmed_at
        from forward_pairs
        group by series_key, scored_position

    ),

    series_ends as (

        select
            series_key,
            max(series_position) as last_position
        from points
        group by series_key

    ),

    -- first pass: plain trailing windows
    first_pairs as (

        select
            scored.series_key,
            scored.series_position,
            history.log_value,
            history.log_value - history.season_offset as adjusted_value
        from adjusted as scored
        inner join {{ apoa_band_rows('adjusted', 'series_position', p.w) }} as history
            on
                scored.series_key = history.series_key
                and history.band_block = {{ apoa_band_block('scored.series_position', -p.w, p.w) }}
                and history.series_position < scored.series_position
                and history.series_position >= scored.series_position - {{ p.w }}

    ),

    {{ _level_shift_baseline('first', 'first_pairs', p) }},

    {{ _level_shift_episodes(kind, 'first', p) }},

    -- second pass: a new level accepted at c starts a new segment for the points after it
    -- (the latest start of an accepted episode that ended before the point: a running maximum
    -- over the points and a marker after each such episode's end, which sorts before the point
    -- at its position; a join of every point with every earlier episode grew with both)
    segment_starts as (

        select
            series_key,
            series_position,
            coalesce(segment_start, 0) as segment_start
        from (
            select
                series_key,
                series_position,
                is_point,
                max(accepted_start) over (
                    partition by series_key
                    order by series_position asc, is_point asc
                    rows between unbounded preceding and current row
                ) as segment_start
            from (
                select
                    series_key,
                    series_position,
                    true as is_point,
                    cast(null as {{ dbt.type_bigint() }}) as accepted_start
                from adjusted
                union all
                select
                    series_key,
                    end_position + 1 as series_position,
                    false as is_point,
                    start_position as accepted_start
                from first_episodes
                where resolution = 'accepted'
            ) as points_and_markers
        ) as running
        where is_point

    ),

    -- each point inside a first-pass episode, once per episode that holds it (an equality for
    -- the join below: a range join on a runner pool's series compares every point with every
    -- episode, for every one of the reach points before each point)
    first_incident_points as (

        select
            adjusted.series_key,
            adjusted.series_position,
            first_episodes.start_position,
            first_episodes.episode_id
        from adjusted
        inner join first_episodes
            on
                adjusted.series_key = first_episodes.series_key
                and adjusted.series_position >= first_episodes.start_position
                and adjusted.series_position <= first_episodes.end_position

    ),

    -- ... and the points of other first-pass episodes (incidents) stay out of every baseline:
    -- a point's baseline is the W most recent others within reach. Where the W points just
    -- before it are all eligible (most points) those are they, found without ranking the reach
    -- behind every point (a top-W over reach pairs per point held 5.7 GB at 100,000 points).
    second_near_pairs as (

{{ _level_shift_second_candidates('adjusted', p.w) }}

    ),

    second_full_points as (

        select
            series_key,
            series_position
        from second_near_pairs
        group by series_key, series_position
        having count(*) = {{ p.w }}

    ),

    second_far_scored as (

        select adjusted.*
        from adjusted
        left join second_full_points as full_points
            on
                adjusted.series_key = full_points.series_key
                and adjusted.series_position = full_points.series_position
        where full_points.series_key is null

    ),

    second_far_pairs as (

{{ _level_shift_second_candidates('second_far_scored', reach) }}

    ),

    second_pairs as (

        select
            near.series_key,
            near.series_position,
            near.log_value,
            near.adjusted_value
        from second_near_pairs as near
        inner join second_full_points as full_points
            on
                near.series_key = full_points.series_key
                and near.series_position = full_points.series_position
        union all
        select
            series_key,
            series_position,
            log_value,
            adjusted_value
        from (
            select
                *,
                row_number() over (
                    partition by series_key, series_position
                    order by history_position desc
                ) as recency
            from second_far_pairs
        ) as ranked
        where recency <= {{ p.w }}

    ),

    {{ _level_shift_baseline('second', 'second_pairs', p) }},

    {{ _level_shift_episodes(kind, 'second', p) }},

    scored_points as (

        select
            baselines.*,
            baselines.center + baselines.offset_used as expected_log,
            second_episodes.episode_id,
            second_episodes.detected_at as episode_detected_at,
            case when second_episodes.resolution is null then 'open' else 'resolved' end
                as episode_status,
            second_episodes.resolution as episode_resolution
        from second_baselines as baselines
        left join second_episodes
            on
                baselines.series_key = second_episodes.series_key
                and baselines.series_position between second_episodes.start_position
                and second_episodes.end_position
        where baselines.history_runs >= {{ p.min_history }}

    ),

    banded as (

        select
            *,
            greatest(exp(expected_log) - {{ p.log_offset }}, 0.0) as expected_value,
            greatest(exp(expected_log - {{ p.width }} * spread) - {{ p.log_offset }}, 0.0)
                as band_lower,
            exp(expected_log + {{ p.width }} * spread) - {{ p.log_offset }} as band_upper
        from scored_points

    ),

    bounded as (

        select
            *,
            least(band_lower, expected_value) as lower_bound,
            greatest(
                band_upper,
                expected_value * {{ p.min_ratio }},
                expected_value + {{ p.min_excess }}
            ) as upper_bound
        from banded

    ),

    scores as (

        select
            job_run_id,
            series_key,
            series_position,
            '{{ kind }}' as kind,
            scored_at,
            known_at,
            observed_value,
            expected_value,
            lower_bound,
            upper_bound,
            observed_value > upper_bound as is_anomaly,
            greatest(
                0.0,
                2.0 * {{ normal_cdf(
                    p.width ~ ' * (ln(observed_value + ' ~ p.log_offset ~ ') - ln(expected_value + '
                    ~ p.log_offset ~ ')) / (ln(upper_bound + ' ~ p.log_offset ~ ') - ln(expected_value + '
                    ~ p.log_offset ~ '))'
                ) }} - 1.0
            ) as anomaly_probability,
            history_runs,
            episode_id,
            episode_detected_at,
            episode_status,
            episode_resolution
        from bounded

    )
{%- endmacro %}


{#- Baseline of one pass from its pairs CTE (series_key, series_position, log_value, adjusted_value). -#}
{% macro _level_shift_baseline(name, pairs, p) -%}
    {{ name }}_centers as (

        select
            series_key,
            series_position,
            count(*) as history_runs,
            {{ median('log_value') }} as raw_center,
            {{ median('adjusted_value') }} as adjusted_center
        from {{ pairs }}
        group by series_key, series_position

    ),

    {{ name }}_spreads as (

        select
            pairs.series_key,
            pairs.series_position,
            {{ median('abs(pairs.log_value - centers.raw_center)') }} as raw_mad,
            {{ median('abs(pairs.adjusted_value - centers.adjusted_center)') }} as adjusted_mad
        from {{ pairs }} as pairs
        inner join {{ name }}_centers as centers
            on
                pairs.series_key = centers.series_key
                and pairs.series_position = centers.series_position
        group by pairs.series_key, pairs.series_position

    ),

    -- the seasonal baseline where it is tighter by the required gain, else the plain one
    {{ name }}_choices as (

        select
            centers.series_key,
            centers.series_position,
            centers.history_runs,
            {{ p.seasonal | lower }}
            and spreads.adjusted_mad < (1.0 - {{ var('apoa_season_min_gain') }}) * spreads.raw_mad
                as is_seasonal,
            centers.raw_center,
            centers.adjusted_center,
            spreads.raw_mad,
            spreads.adjusted_mad
        from {{ name }}_centers as centers
        inner join {{ name }}_spreads as spreads
            on
                centers.series_key = spreads.series_key
                and centers.series_position = spreads.series_position

    ),

    {{ name }}_baselines as (

        select
            adjusted.*,
            choices.history_runs,
            choices.is_seasonal,
            case when choices.is_seasonal then choices.adjusted_center else choices.raw_center end
                as center,
            greatest(
                1.4826 * case when choices.is_seasonal then choices.adjusted_mad else choices.raw_mad end,
                {{ p.min_spread }}
            ) as spread,
            case when choices.is_seasonal then adjusted.season_offset else 0.0 end as offset_used,
            adjusted.log_value
            - case when choices.is_seasonal then adjusted.season_offset else 0.0 end as level_value
        from adjusted
        inner join {{ name }}_choices as choices
            on
                adjusted.series_key = choices.series_key
                and adjusted.series_position = choices.series_position

    )
{%- endmacro %}


{#- Shift starts, their extents and the episodes of one pass (reads <name>_baselines). -#}
{% macro _level_shift_episodes(kind, name, p) -%}
    {{ name }}_candidates as (

        select
            baselines.series_key,
            baselines.series_position,
            baselines.job_run_id,
            baselines.is_seasonal,
            baselines.center,
            forward_levels.confirmed_at,
            baselines.center + greatest(
                {{ p.shift_sigmas }} * 1.2533 * baselines.spread
                * sqrt(1.0 / {{ p.k }} + 1.0 / baselines.history_runs),
                ln(
                    ({{ p.min_ratio }} * (exp(baselines.center) - {{ p.log_offset }}) + {{ p.log_offset }})
                    / exp(baselines.center)
                ),
                ln(1.0 + {{ p.min_excess }} / exp(baselines.center))
            ) as shift_threshold,
            baselines.history_runs >= {{ p.min_history }}
            and forward_levels.forward_runs = {{ p.k }}
            and least(
                baselines.level_value,
                case
                    when baselines.is_seasonal then forward_levels.adjusted_forward_level
                    else forward_levels.raw_forward_level
                end,
                case
                    when baselines.is_seasonal then forward_levels.adjusted_onset_level
                    else forward_levels.raw_onset_level
                end
            ) > baselines.center + greatest(
                {{ p.shift_sigmas }} * 1.2533 * baselines.spread
                * sqrt(1.0 / {{ p.k }} + 1.0 / baselines.history_runs),
                ln(
                    ({{ p.min_ratio }} * (exp(baselines.center) - {{ p.log_offset }}) + {{ p.log_offset }})
                    / exp(baselines.center)
                ),
                ln(1.0 + {{ p.min_excess }} / exp(baselines.center))
            ) as is_candidate
        from {{ name }}_baselines as baselines
        inner join forward_levels
            on
                baselines.series_key = forward_levels.series_key
                and baselines.series_position = forward_levels.series_position

    ),

    -- a run of consecutive candidates is one shift: its first point is where it starts
    {{ name }}_starts as (

        select
            series_key,
            series_position as start_position,
            job_run_id as start_job_run_id,
            is_seasonal,
            shift_threshold,
            -- hysteresis: back to normal only below halfway between the old level and the bar
            (center + shift_threshold) / 2.0 as fix_threshold,
            confirmed_at
        from (
            select
                *,
                lag(is_candidate) over (
                    partition by series_key order by series_position
                ) as previous_is_candidate
            from {{ name }}_candidates
        ) as flagged
        where is_candidate and not coalesce(previous_is_candidate, false)

    ),

    -- the level is back when the k-point median falls below the fix threshold frozen at the start
    {{ name }}_fixes as (

        select
            starts.series_key,
            starts.start_position,
            min(later.series_position) as fixed_position
        from {{ name }}_starts as starts
        inner join {{ apoa_band_rows('forward_levels', 'series_position', p.accept) }} as later
            on
                starts.series_key = later.series_key
                and later.band_block = {{ apoa_band_block('starts.start_position', 1, p.accept) }}
                and later.series_position > starts.start_position
                and later.series_position <= starts.start_position + {{ p.accept }}
                and later.forward_runs = {{ p.k }}
                and case
                    when starts.is_seasonal then later.adjusted_forward_level
                    else later.raw_forward_level
                end <= starts.fix_threshold
        group by starts.series_key, starts.start_position

    ),

    {{ name }}_last_elevated as (

        select
            starts.series_key,
            starts.start_position,
            max(elevated.series_position) as last_elevated_position
        from {{ name }}_starts as starts
        inner join {{ name }}_fixes as fixes
            on
                starts.series_key = fixes.series_key
                and starts.start_position = fixes.start_position
        -- fixed_position <= start + accept: the range is at most accept + k - 1 long
        inner join {{ apoa_band_rows('adjusted', 'series_position', p.accept + p.k) }} as elevated
            on
                starts.series_key = elevated.series_key
                -- on fixes' copy of the start: the optimizer may join fixes to elevated first
                and elevated.band_block = {{ apoa_band_block('fixes.start_position', 0, p.accept + p.k) }}
                and elevated.series_position >= starts.start_position
                and elevated.series_position < fixes.fixed_position + {{ p.k }}
                and elevated.log_value
                - case when starts.is_seasonal then elevated.season_offset else 0.0 end
                > starts.fix_threshold
        group by starts.series_key, starts.start_position

    ),

    {{ name }}_extents as (

        select
            starts.*,
            case
                when fixes.fixed_position is not null then 'fixed'
                when series_ends.last_position >= starts.start_position + {{ p.accept + p.k - 1 }}
                    then 'accepted'
            end as resolution,
            case
                when fixes.fixed_position is not null
                    then greatest(
                        coalesce(last_elevated.last_elevated_position, starts.start_position),
                        starts.start_position
                    )
                when series_ends.last_position >= starts.start_position + {{ p.accept + p.k - 1 }}
                    then starts.start_position + {{ p.accept - 1 }}
                else series_ends.last_position
            end as end_position
        from {{ name }}_starts as starts
        inner join series_ends
            on starts.series_key = series_ends.series_key
        left join {{ name }}_fixes as fixes
            on
                starts.series_key = fixes.series_key
                and starts.start_position = fixes.start_position
        left join {{ name }}_last_elevated as last_elevated
            on
                starts.series_key = last_elevated.series_key
                and starts.start_position = last_elevated.start_position

    ),

    -- a start inside an earlier episode, or within k points of its end, is that episode seen
    -- again: gaps and islands over the extents
    {{ name }}_extent_groups as (

        select
            *,
            sum(case when previous_end is null or start_position > previous_end + {{ p.k }} then 1 else 0 end)
                over (
                    partition by series_key order by start_position
                    rows between unbounded preceding and current row
                ) as group_number
        from (
            select
                *,
                max(end_position) over (
                    partition by series_key order by start_position
                    rows between unbounded preceding and 1 preceding
                ) as previous_end
            from {{ name }}_extents
        ) as ordered

    ),

    {{ name }}_episodes as (

        select
            {{ surrogate_key(["'" ~ kind ~ "'", 'series_key', 'start_job_run_id']) }} as episode_id,
            series_key,
            start_position,
            end_position,
            start_job_run_id,
            resolution,
            detected_at
        from (
            select
                series_key,
                min(start_position) as start_position,
                max(end_position) as end_position,
                max(case when group_rank = 1 then start_job_run_id end) as start_job_run_id,
                max(case when group_rank_from_last = 1 then resolution end) as resolution,
                max(case when group_rank = 1 then confirmed_at end) as detected_at
            from (
                select
                    *,
                    row_number() over (
                        partition by series_key, group_number order by start_position
                    ) as group_rank,
                    row_number() over (
                        partition by series_key, group_number order by end_position desc
                    ) as group_rank_from_last
                from {{ name }}_extent_groups
            ) as ranked
            group by series_key, group_number
        ) as merged

    )
{%- endmacro %}


{#- Second-pass history of each point of `scored` in the `window` positions before it: from its
    segment on, without the points of other first-pass episodes (reads adjusted,
    segment_starts, first_incident_points). -#}
{% macro _level_shift_second_candidates(scored, window) -%}
        select
            scored.series_key,
            scored.series_position,
            history.series_position as history_position,
            history.log_value,
            history.log_value - history.season_offset as adjusted_value
        from {{ scored }} as scored
        inner join segment_starts
            on
                scored.series_key = segment_starts.series_key
                and scored.series_position = segment_starts.series_position
        inner join {{ apoa_band_rows('adjusted', 'series_position', window) }} as history
            on
                scored.series_key = history.series_key
                and history.band_block = {{ apoa_band_block('scored.series_position', -window, window) }}
                and history.series_position < scored.series_position
                and history.series_position >= scored.series_position - {{ window }}
                and history.series_position >= segment_starts.segment_start
        left join first_incident_points as incidents
            on
                history.series_key = incidents.series_key
                and history.series_position = incidents.series_position
                and incidents.start_position != segment_starts.segment_start
        where incidents.episode_id is null
{%- endmacro %}
