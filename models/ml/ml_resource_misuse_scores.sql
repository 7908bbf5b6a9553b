{#-
    resource_misuse scores, a rule shared by every scorer: each job run's peak of each measure
    (int_resource_series) against the job's own baseline of that measure, the median c and MAD
    of ln(peak) over the `apoa_resource_window_runs` runs before it (never the run itself),
    from `apoa_resource_min_history` runs on. The run is anomalous when its peak is above
    exp(c + max(sigmas x max(1.4826 MAD, min_spread), ln(min_ratio))) — far above the usual
    peak, by the job's own noise and by at least `apoa_resource_min_ratio` — or, for memory
    utilization, at or above `apoa_resource_memory_limit_share` of the limit (near an
    out-of-memory kill whatever the job usually uses). Episodes: at least
    `apoa_resource_episode_min_runs` anomalous runs with at most `apoa_resource_episode_max_gap`
    normal runs between.
-#}
{#- Locally incremental like the other series scorers (macros/incremental/apoa_series_scores.sql):
    only the tails of the series a batch touched are scored again (a table rebuilt whole cost
    12.5 s of a 23 s micro-batch at 1M job runs). -#}
{{
    config(
        materialized=apoa_scores_materialization(),
        unique_key='series_key',
        incremental_strategy='series_tail',
    )
}}

{%- set window = var('apoa_resource_window_runs') -%}
{%- set limit_share = var('apoa_resource_memory_limit_share') -%}

with

{{ apoa_rescore_cte(ref('int_resource_series')) }}

series as (

    select
        series_key,
        job_run_id,
        job_key,
        measure,
        series_position,
        observed_value,
        log_value,
        scored_at,
        known_at,
        state_load_seq
    from {{ apoa_touched_series(ref('int_resource_series'), level_window=window) }}

),

centers as (

    select
        current_runs.series_key,
        current_runs.series_position,
        {{ median('history.log_value') }} as center,
        count(*) as history_runs
    from series as current_runs
    inner join {{ apoa_band_rows('series', 'series_position', window) }} as history
        on
            current_runs.series_key = history.series_key
            and history.band_block = {{ apoa_band_block('current_runs.series_position', -window, window) }}
            and history.series_position between current_runs.series_position - {{ window }}
            and current_runs.series_position - 1
    group by current_runs.series_key, current_runs.series_position

),

spreads as (

    select
        centers.series_key,
        centers.series_position,
        centers.center,
        centers.history_runs,
        greatest(
            1.4826 * {{ median('abs(history.log_value - centers.center)') }},
            {{ var('apoa_resource_min_spread') }}
        ) as spread
    from centers
    inner join {{ apoa_band_rows('series', 'series_position', window) }} as history
        on
            centers.series_key = history.series_key
            and history.band_block = {{ apoa_band_block('centers.series_position', -window, window) }}
            and history.series_position between centers.series_position - {{ window }}
            and centers.series_position - 1
    group by centers.series_key, centers.series_position, centers.center, centers.history_runs

),

banded as (

    select
        series.*,
        exp(spreads.center) as usual_peak,
        exp(spreads.center - {{ var('apoa_resource_sigmas') }} * spreads.spread) as lower_bound,
        case
            when series.measure = 'memory_utilization'
                then least(
                        exp(spreads.center + greatest(
                            {{ var('apoa_resource_sigmas') }} * spreads.spread,
                            ln({{ var('apoa_resource_min_ratio') }})
                        )),
                        {{ limit_share }} - 0.000001
                    )
            else exp(spreads.center + greatest(
                    {{ var('apoa_resource_sigmas') }} * spreads.spread,
                    ln({{ var('apoa_resource_min_ratio') }})
                ))
        end as upper_bound,
        spreads.spread,
        spreads.center,
        spreads.history_runs
    from series
    inner join spreads
        on
            series.series_key = spreads.series_key
            and series.series_position = spreads.series_position
    where spreads.history_runs >= {{ var('apoa_resource_min_history') }}

),

scored as (

    select
        job_run_id,
        series_key,
        series_position,
        'resource_misuse' as kind,
        scored_at,
        known_at,
        observed_value,
        -- a job that usually sits at its memory limit is judged against the limit itself
        least(usual_peak, upper_bound) as expected_value,
        least(lower_bound, usual_peak, upper_bound) as lower_bound,
        upper_bound,
        -- memory utilization's upper bound is capped just below the limit share
        observed_value > upper_bound as is_anomaly,
        {{ normal_cdf('(log_value - center) / spread') }} as anomaly_probability,
        history_runs,
        -- the measure names the finding's metric (fct_findings.resource_metric)
        measure as failure_signature,
        job_key
    from banded

),

{{ point_anomaly_episode_ctes(
    'resource_misuse', 'scored', var('apoa_resource_episode_min_runs'),
    var('apoa_resource_episode_max_gap')
) }},

described as (

    select
        scores.*,
        cast(null as {{ dbt.type_boolean() }}) as is_default_branch,
        cast(null as {{ dbt.type_string() }}) as runner_label,
        series.state_load_seq,
        {{ apoa_scoring_fingerprint_sql() }} as scoring_fingerprint
    from scores
    inner join series
        on scores.job_run_id = series.job_run_id and scores.series_key = series.series_key

)

{{ apoa_rescored_rows('described') }}
