{#-
    Rate-shift detector for 0/1 events per run (failures, flaky runs): the `robust` scorer of
    failure_rate, and the rule behind flaky_job (with a fixed acceptable rate).

    Input `relation` (int_failure_series): series_key, job_run_id, series_position,
    scored_at, known_at and the boolean `event_column`. Output: CTEs ending in `scores`.

    - Baseline rate p0 of a run: the lowest of the Jeffreys estimates (events + 0.5) /
      (runs + 1) over the M runs before each of the last B runs (a rise that has begun does
      not raise its own bar), at least the floor; or `fixed_rate` (flaky_job: the acceptable
      flake rate).
    - A Bernoulli CUSUM (p0 against p1 = max(ratio * p0, p0 + lift)) names where a rise
      began: the run after the CUSUM's last minimum. The stretch from there to the scored run
      is tested exactly: P(X >= events | runs, p0 at the stretch start) < alpha, with at least
      `min_events` events. A binomial test, not a fixed threshold.
    - The events of significant stretches are the episode's; events further apart than
      `episode_max_gap` runs are different episodes, and an episode needs `min_events` of
      them. It starts at the event from which the stretch to its detection is least likely
      under p0, and is open until `episode_max_gap` runs pass without another such event.
    - With a trailing baseline, a second pass computes p0 without the runs of first-pass
      episodes, so a past incident does not raise the bar for the next.
    - Point scores: events in the last N runs against the binomial (1 - point_alpha) quantile
      at the current p0 (upper_bound), anomaly_probability = 1 - P(X >= observed).
-#}
{% macro robust_rate_shift_ctes(kind, relation, event_column, prefix, fixed_rate=none) -%}
    {%- set p = {
        'window': var('apoa_' ~ prefix ~ '_window_runs'),
        'baseline': var('apoa_' ~ prefix ~ '_baseline_runs', 50),
        'min_baseline': var('apoa_' ~ prefix ~ '_min_baseline_runs'),
        'min_rate': var('apoa_' ~ prefix ~ '_min_rate', 0.02),
        'ratio': var('apoa_' ~ prefix ~ '_alternative_ratio'),
        'lift': var('apoa_' ~ prefix ~ '_alternative_lift'),
        'alpha': var('apoa_' ~ prefix ~ '_alpha'),
        'point_alpha': var('apoa_' ~ prefix ~ '_point_alpha'),
        'min_events': var('apoa_' ~ prefix ~ '_min_events'),
        'gap': var('apoa_' ~ prefix ~ '_episode_max_gap'),
        'max_stretch': var('apoa_' ~ prefix ~ '_max_stretch_runs'),
        'lag': var('apoa_' ~ prefix ~ '_baseline_lag_runs', 0),
        'baseline_sds': var('apoa_' ~ prefix ~ '_baseline_sds', 0),
    } -%}

    rate_points as (

        select
            series_key,
            job_run_id,
            series_position,
            scored_at,
            known_at,
            case when {{ event_column }} then 1 else 0 end as event,
            sum(case when {{ event_column }} then 1 else 0 end) over (
                partition by series_key order by series_position
                rows between unbounded preceding and current row
            ) as cumulative_events,
            sum(case when {{ event_column }} then 1 else 0 end) over (
                partition by series_key order by series_position
                rows between {{ p.window - 1 }} preceding and current row
            ) as window_events,
            count(*) over (
                partition by series_key order by series_position
                rows between {{ p.window - 1 }} preceding and current row
            ) as window_runs
        from {{ relation }}

    ),

    rate_coefficients as (

        select
            n,
            j,
            log_choose
        from {{ log_binomial_coefficients(p.max_stretch) }} as coefficients

    ),

    series_ends as (

        select
            series_key,
            max(series_position) as last_position
        from rate_points
        group by series_key

    ),

    {% if fixed_rate is none -%}

        first_rates as (

            select
                *,
                coalesce(sum(event) over (
                    partition by series_key order by series_position
                    rows between {{ p.baseline }} preceding and 1 preceding
                ), 0) as baseline_events,
                count(*) over (
                    partition by series_key order by series_position
                    rows between {{ p.baseline }} preceding and 1 preceding
                ) as baseline_runs
            from rate_points

        ),

        {{ _rate_pass(kind, 'first', p, fixed_rate) }},

        -- second pass: the baseline leaves out the runs of first-pass episodes
        second_flags as (

            select
                rate_points.*,
                case when incidents.episode_id is null then 1 else 0 end as is_baseline_run
            from rate_points
            left join first_episodes as incidents
                on
                    rate_points.series_key = incidents.series_key
                    and rate_points.series_position >= incidents.start_position
                    and rate_points.series_position <= incidents.end_position

        ),

        second_baseline_sums as (

            select
                series_key,
                row_number() over (
                    partition by series_key order by series_position
                ) as baseline_index,
                sum(event) over (
                    partition by series_key order by series_position
                    rows between {{ p.baseline - 1 }} preceding and current row
                ) as trailing_events,
                count(*) over (
                    partition by series_key order by series_position
                    rows between {{ p.baseline - 1 }} preceding and current row
                ) as trailing_runs
            from second_flags
            where is_baseline_run = 1

        ),

        second_rates as (

            select
                flagged.series_key,
                flagged.job_run_id,
                flagged.series_position,
                flagged.scored_at,
                flagged.known_at,
                flagged.event,
                flagged.cumulative_events,
                flagged.window_events,
                flagged.window_runs,
                coalesce(sums.trailing_events, 0) as baseline_events,
                coalesce(sums.trailing_runs, 0) as baseline_runs
            from (
                select
                    *,
                    coalesce(sum(is_baseline_run) over (
                        partition by series_key order by series_position
                        rows between unbounded preceding and 1 preceding
                    ), 0) as baseline_runs_before
                from second_flags
            ) as flagged
            left join second_baseline_sums as sums
                on
                    flagged.series_key = sums.series_key
                    and flagged.baseline_runs_before = sums.baseline_index

        ),

        {{ _rate_pass(kind, 'second', p, fixed_rate) }},

        {%- set final = 'second' -%}
    {%- else -%}

        first_rates as (

            select
                *,
                0 as baseline_events,
                series_position - 1 as baseline_runs
            from rate_points

        ),

        {{ _rate_pass(kind, 'first', p, fixed_rate) }},

        {%- set final = 'first' -%}
    {%- endif %}

    -- point scores: the last N runs' events against the binomial quantile at today's p0
    point_probabilities as (

        select
            rated.series_key,
            rated.series_position,
            coefficients.j,
            exp(
                coefficients.log_choose
                + coefficients.j * ln(rated.baseline_rate)
                + (coefficients.n - coefficients.j) * ln(1.0 - rated.baseline_rate)
            ) as probability
        from {{ final }}_rated as rated
        inner join rate_coefficients as coefficients
            on coefficients.n = rated.window_runs
        left join {{ final }}_episodes as episodes
            on
                rated.series_key = episodes.series_key
                and rated.series_position between episodes.start_position and episodes.end_position
        -- enough history, or part of an episode (its early runs may precede a full window)
        where
            (rated.window_runs = {{ p.window }} and rated.baseline_runs >= {{ p.min_baseline }})
            or episodes.episode_id is not null

    ),

    point_tails as (

        select
            series_key,
            series_position,
            j,
            sum(probability) over (
                partition by series_key, series_position order by j desc
                rows between unbounded preceding and current row
            ) as tail
        from point_probabilities

    ),

    point_bounds as (

        select
            rated.series_key,
            rated.series_position,
            coalesce(
                min(case when tails.tail < {{ p.point_alpha }} then tails.j end) - 1,
                max(rated.window_runs)
            ) as upper_count,
            max(case when tails.j = rated.window_events then tails.tail end) as observed_tail
        from {{ final }}_rated as rated
        inner join point_tails as tails
            on
                rated.series_key = tails.series_key
                and rated.series_position = tails.series_position
        group by rated.series_key, rated.series_position

    ),

    scores as (

        select
            rated.job_run_id,
            rated.series_key,
            rated.series_position,
            '{{ kind }}' as kind,
            rated.scored_at,
            rated.known_at,
            rated.window_events * 1.0 as observed_value,
            rated.window_runs * rated.baseline_rate as expected_value,
            0.0 as lower_bound,
            greatest(bounds.upper_count * 1.0, rated.window_runs * rated.baseline_rate) as upper_bound,
            rated.window_events > greatest(
                bounds.upper_count * 1.0, rated.window_runs * rated.baseline_rate
            ) as is_anomaly,
            case
                when rated.window_events > rated.window_runs * rated.baseline_rate
                    then greatest(0.0, least(1.0, 1.0 - bounds.observed_tail))
                else 0.0
            end as anomaly_probability,
            rated.baseline_runs as history_runs,
            episodes.episode_id,
            episodes.detected_at as episode_detected_at,
            case when episodes.resolution is null then 'open' else 'resolved' end
                as episode_status,
            episodes.resolution as episode_resolution
        from {{ final }}_rated as rated
        inner join point_bounds as bounds
            on
                rated.series_key = bounds.series_key
                and rated.series_position = bounds.series_position
        left join {{ final }}_episodes as episodes
            on
                rated.series_key = episodes.series_key
                and rated.series_position between episodes.start_position and episodes.end_position

    )
{%- endmacro %}


{#- One pass: baseline rates, CUSUM starts, exact tests, episodes (reads <name>_rates). -#}
{% macro _rate_pass(kind, name, p, fixed_rate) -%}
    {{ name }}_estimates as (

        select
            *,
            {% if fixed_rate is none -%}
                -- the estimate plus `baseline_sds` of its standard error: a rate estimated
                -- from a short or lucky baseline is too uncertain to call a rise against
                least(0.9, greatest(
                    {{ p.min_rate }},
                    (baseline_events + 0.5) / (baseline_runs + 1.0) + {{ p.baseline_sds }} * sqrt(
                        (baseline_events + 0.5) * (baseline_runs - baseline_events + 0.5)
                        / ((baseline_runs + 1.0) * (baseline_runs + 1.0) * (baseline_runs + 2.0))
                    )
                ))
            {%- else -%}
                {{ fixed_rate }}
            {%- endif %} as trailing_rate
        from {{ name }}_rates

    ),

    -- the lowest trailing estimate of the last B runs: a rise that has begun does not raise
    -- the bar it is measured against before it is recognised
    {{ name }}_rated as (

        select
            *,
            min(trailing_rate) over (
                partition by series_key order by series_position
                rows between {{ p.lag }} preceding and current row
            ) as baseline_rate
        from {{ name }}_estimates

    ),

    {{ name }}_increments as (

        select
            *,
            sum(
                case
                    when event = 1
                        then ln(
                            least(0.95, greatest({{ p.ratio }} * baseline_rate, baseline_rate + {{ p.lift }}))
                            / baseline_rate
                        )
                    else ln(
                        (1.0 - least(0.95, greatest({{ p.ratio }} * baseline_rate, baseline_rate + {{ p.lift }})))
                        / (1.0 - baseline_rate)
                    )
                end
            ) over (
                partition by series_key order by series_position
                rows between unbounded preceding and current row
            ) as cusum_sum
        from {{ name }}_rated

    ),

    -- CUSUM = sum - its running minimum (0 before the first run); the rise began after that minimum
    {{ name }}_minima as (

        select
            *,
            least(
                0.0,
                coalesce(min(cusum_sum) over (
                    partition by series_key order by series_position
                    rows between unbounded preceding and 1 preceding
                ), 0.0)
            ) as previous_minimum
        from {{ name }}_increments

    ),

    {{ name }}_cusum as (

        select
            *,
            cusum_sum - least(previous_minimum, cusum_sum) as cusum,
            greatest(
                coalesce(max(case when cusum_sum <= previous_minimum then series_position end) over (
                    partition by series_key order by series_position
                    rows between unbounded preceding and current row
                ), 0) + 1,
                series_position - {{ p.max_stretch - 1 }}
            ) as stretch_start
        from {{ name }}_minima

    ),

    {{ name }}_stretches as (

        select
            scored.series_key,
            scored.series_position,
            scored.stretch_start,
            scored.series_position - scored.stretch_start + 1 as stretch_runs,
            scored.cumulative_events - (start.cumulative_events - start.event) as stretch_events,
            start.baseline_rate as stretch_rate
        from {{ name }}_cusum as scored
        inner join {{ name }}_cusum as start
            on
                scored.series_key = start.series_key
                and scored.stretch_start = start.series_position
        where
            scored.cusum > 0
            and scored.baseline_runs >= {{ p.min_baseline }}

    ),

    {{ name }}_tails as (

        select
            stretches.series_key,
            stretches.series_position,
            stretches.stretch_start,
            sum(exp(
                coefficients.log_choose
                + coefficients.j * ln(stretches.stretch_rate)
                + (coefficients.n - coefficients.j) * ln(1.0 - stretches.stretch_rate)
            )) as tail
        from {{ name }}_stretches as stretches
        inner join rate_coefficients as coefficients
            on
                stretches.stretch_runs = coefficients.n
                and coefficients.j >= stretches.stretch_events
        where stretches.stretch_events >= {{ p.min_events }}
        group by
            stretches.series_key,
            stretches.series_position,
            stretches.stretch_start,
            stretches.stretch_rate

    ),

    {{ name }}_significant as (

        select
            series_key,
            series_position,
            stretch_start
        from {{ name }}_tails
        where tail < {{ p.alpha }}

    ),

    -- an event belongs to an episode when a significant stretch covers it
    {{ name }}_covered as (

        select
            events.series_key,
            events.series_position,
            events.job_run_id,
            min(significant.series_position) as detected_position
        from {{ name }}_rated as events
        inner join {{ name }}_significant as significant
            on
                events.series_key = significant.series_key
                and significant.stretch_start <= events.series_position
                and events.series_position <= significant.series_position
        where events.event = 1
        group by events.series_key, events.series_position, events.job_run_id

    ),

    {{ name }}_islands as (

        select
            *,
            sum(case when gap_from_previous is null or gap_from_previous > {{ p.gap }} then 1 else 0 end)
                over (
                    partition by series_key order by series_position
                    rows between unbounded preceding and current row
                ) as island_number
        from (
            select
                *,
                series_position - lag(series_position) over (
                    partition by series_key order by series_position
                ) as gap_from_previous
            from {{ name }}_covered
        ) as gapped

    ),

    {{ name }}_episode_spans as (

        select
            series_key,
            island_number,
            max(series_position) as end_position,
            min(detected_position) as detected_position
        from {{ name }}_islands
        group by series_key, island_number
        having count(*) >= {{ p.min_events }}

    ),

    -- the probable start: of the episode's events up to its detection, the one from which
    -- the stretch to the detection is least likely under p0 (an ordinary failure a few runs
    -- before a real rise is not its start)
    {{ name }}_start_candidates as (

        select
            islands.series_key,
            islands.island_number,
            islands.series_position as candidate_position,
            spans.detected_position - islands.series_position + 1 as candidate_runs,
            detected.cumulative_events - (candidate.cumulative_events - candidate.event)
                as candidate_events,
            candidate.baseline_rate as candidate_rate
        from {{ name }}_islands as islands
        inner join {{ name }}_episode_spans as spans
            on
                islands.series_key = spans.series_key
                and islands.island_number = spans.island_number
                and islands.series_position <= spans.detected_position
        inner join {{ name }}_rated as candidate
            on
                islands.series_key = candidate.series_key
                and islands.series_position = candidate.series_position
        -- one composite key, not two equalities: with series_key = series_key on both
        -- joins of _rated, DuckDB's join order paired candidate and detected on series_key
        -- alone first, every run of a job with every other (8.7M rows at 13k job runs; out
        -- of 24 GB at 53k)
        inner join {{ name }}_rated as detected
            on {{ _rate_position_key('spans.series_key', 'spans.detected_position') }}
            = {{ _rate_position_key('detected.series_key', 'detected.series_position') }}

    ),

    {{ name }}_start_tails as (

        select
            candidates.series_key,
            candidates.island_number,
            candidates.candidate_position,
            sum(exp(
                coefficients.log_choose
                + coefficients.j * ln(candidates.candidate_rate)
                + (coefficients.n - coefficients.j) * ln(1.0 - candidates.candidate_rate)
            )) as tail
        from {{ name }}_start_candidates as candidates
        inner join rate_coefficients as coefficients
            on
                least(candidates.candidate_runs, {{ p.max_stretch }}) = coefficients.n
                and coefficients.j >= least(candidates.candidate_events, coefficients.n)
        group by
            candidates.series_key,
            candidates.island_number,
            candidates.candidate_position,
            candidates.candidate_rate

    ),

    {{ name }}_starts as (

        select
            series_key,
            island_number,
            candidate_position as start_position
        from (
            select
                *,
                row_number() over (
                    partition by series_key, island_number
                    order by tail asc, candidate_position asc
                ) as tail_rank
            from {{ name }}_start_tails
        ) as ranked
        where tail_rank = 1

    ),

    {{ name }}_episodes as (

        select
            {{ surrogate_key(["'" ~ kind ~ "'", 'spans.series_key', 'starts.job_run_id']) }}
                as episode_id,
            spans.series_key,
            spans.start_position,
            spans.end_position,
            starts.job_run_id as start_job_run_id,
            detections.known_at as detected_at,
            case
                when series_ends.last_position - spans.end_position > {{ p.gap }} then 'fixed'
            end as resolution
        from (
            select
                spans.*,
                starts.start_position
            from {{ name }}_episode_spans as spans
            inner join {{ name }}_starts as starts
                on
                    spans.series_key = starts.series_key
                    and spans.island_number = starts.island_number
        ) as spans
        inner join {{ name }}_rated as starts
            on
                spans.series_key = starts.series_key
                and spans.start_position = starts.series_position
        inner join {{ name }}_rated as detections  -- one key: see _start_candidates
            on {{ _rate_position_key('spans.series_key', 'spans.detected_position') }}
            = {{ _rate_position_key('detections.series_key', 'detections.series_position') }}
        inner join series_ends
            on spans.series_key = series_ends.series_key

    )
{%- endmacro %}

{#- A series position as one join key (see _start_candidates). -#}
{% macro _rate_position_key(series_key, position) -%}
    concat({{ series_key }}, '#', cast({{ position }} as {{ dbt.type_string() }}))
{%- endmacro %}
