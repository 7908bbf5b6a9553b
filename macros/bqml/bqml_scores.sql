{#-
    The BigQuery ML and Vertex AI scorers (var apoa_scorer: bqml_arima, bqml_kmeans, vertex),
    plugged into the scorer shims of macros/scoring/job_run_scores.sql as their bigquery__
    variants: every other scorer falls through to the default__ (portable) one. Each ends in
    the CTE `scores` with the columns of the scoring contract. docs/scorers.md maps every
    model's output onto the contract.
-#}

{#- Whether a models/bqml model is built: on BigQuery, and only for a scorer that reads it. -#}
{% macro apoa_bqml_enabled(scorers) -%}
    {{- return(target.type == 'bigquery' and var('apoa_scorer') in scorers) -}}
{%- endmacro %}

{#- The per-run features K-means trains and scores on (columns of bqml_run_features). -#}
{% macro apoa_bqml_kmeans_features() -%}
    job_key,
        ln_duration_seconds,
        ln_queue_seconds,
        setup_share,
        longest_step_share,
        step_count,
        cpu_utilization_peak,
        memory_utilization_peak
{%- endmacro %}

{#- INPUT of the Vertex AI remote model: the AutoML model's features, by name and type. -#}
{% macro apoa_vertex_input_schema() -%}
    {{- return({
        'job_key': 'string',
        'runner_label': 'string',
        'hour_of_week': 'int64',
        'ln_queue_seconds': 'float64',
        'setup_share': 'float64',
        'longest_step_share': 'float64',
        'step_count': 'int64',
        'cpu_utilization_peak': 'float64',
        'memory_utilization_peak': 'float64',
    }) -}}
{%- endmacro %}


{% macro bigquery__duration_regression_score_ctes(relation, scorer) %}
    {%- if scorer == 'bqml_arima' -%}
        {{ return(bqml_arima_score_ctes('duration_regression', relation, ref('bqml_arima_duration'))) }}
    {%- elif scorer in ('bqml_kmeans', 'vertex') -%}
        {{ return(bqml_iid_score_ctes('duration_regression', relation, scorer)) }}
    {%- endif -%}
    {{ return(default__duration_regression_score_ctes(relation, scorer)) }}
{% endmacro %}

{% macro bigquery__failure_rate_score_ctes(relation, scorer) %}
    {%- if scorer == 'bqml_arima' -%}
        {{ return(bqml_arima_score_ctes('failure_rate', relation, ref('bqml_arima_failure_rate'))) }}
    {%- elif scorer in ('bqml_kmeans', 'vertex') -%}
        {#- Per-run outlier models say nothing about a rate: the robust scorer keeps it. -#}
        {{ return(default__failure_rate_score_ctes(relation, 'robust')) }}
    {%- endif -%}
    {{ return(default__failure_rate_score_ctes(relation, scorer)) }}
{% endmacro %}

{% macro bigquery__queue_spike_score_ctes(relation, scorer) %}
    {%- if scorer in ('bqml_arima', 'bqml_kmeans', 'vertex') -%}
        {#- Runner pools have no BigQuery ML model yet: the robust scorer keeps queue_spike. -#}
        {{ return(default__queue_spike_score_ctes(relation, 'robust')) }}
    {%- endif -%}
    {{ return(default__queue_spike_score_ctes(relation, scorer)) }}
{% endmacro %}


{#-
    ARIMA_PLUS scores series-days, not runs. ML.DETECT_ANOMALIES over the training history
    (decompose_time_series = true) gives each day of each series its bounds, anomaly
    probability and verdict; a day is anomalous when the model says so and the day's value
    is above the upper bound (a faster or healthier day is no finding). Days form episodes
    like any point scorer's (islands of anomalous days, apoa_bqml_arima_min_days in a row,
    at most apoa_bqml_arima_max_gap_days normal days between); an episode starts at the
    first run of its first day and is detected when the last run of its confirming day is
    known. Every run of a day then carries the day's score and episode, so findings keep
    their run-level evidence (commit range, the step that grew).
-#}
{% macro bqml_arima_score_ctes(kind, relation, model) -%}
    arima_detected as (

        select
            series_key,
            time_series_timestamp as series_day,
            time_series_data as observed_value,
            is_anomaly,
            lower_bound,
            upper_bound,
            anomaly_probability
        from ml.detect_anomalies(
            model {{ model }},
            struct({{ var('apoa_bqml_arima_anomaly_prob_threshold', 0.99) }} as anomaly_prob_threshold)
        )

    ),

    arima_items as (

        select
            series_key,
            job_run_id,
            series_position,
            scored_at,
            known_at,
            timestamp_trunc(known_at, day) as series_day
        from {{ relation }}

    ),

    arima_days as (

        select
            series_key,
            series_day,
            array_agg(job_run_id order by series_position asc limit 1)[offset(0)] as first_job_run_id,
            max(known_at) as known_at,
            row_number() over (partition by series_key order by series_day asc) as day_position
        from arima_items
        group by series_key, series_day

    ),

    arima_days_scored as (

        select
            days.first_job_run_id as job_run_id,
            days.series_key,
            days.day_position as series_position,
            '{{ kind }}' as kind,
            days.series_day as scored_at,
            days.known_at,
            detected.observed_value,
            (detected.lower_bound + detected.upper_bound) / 2 as expected_value,
            detected.lower_bound,
            detected.upper_bound,
            coalesce(detected.is_anomaly and detected.observed_value > detected.upper_bound, false)
                as is_anomaly,
            detected.anomaly_probability,
            days.day_position - 1 as history_runs
        from arima_days as days
        inner join arima_detected as detected
            on
                days.series_key = detected.series_key
                and days.series_day = detected.series_day

    ),

    arima_day_episodes as (

        with
        {{ point_anomaly_episode_ctes(
            kind, 'arima_days_scored',
            var('apoa_bqml_arima_min_days', 1), var('apoa_bqml_arima_max_gap_days', 1)
        ) }}

        select * from scores

    ),

    scores as (

        select
            items.job_run_id,
            items.series_key,
            items.series_position,
            days.kind,
            items.scored_at,
            items.known_at,
            days.observed_value,
            days.expected_value,
            days.lower_bound,
            days.upper_bound,
            days.is_anomaly,
            days.anomaly_probability,
            days.history_runs,
            days.episode_id,
            days.episode_detected_at,
            days.episode_status,
            days.episode_resolution
        from arima_items as items
        inner join arima_day_episodes as days
            on
                items.series_key = days.series_key
                and items.series_day = days.scored_at

    )
{%- endmacro %}


{#-
    Per-run (IID) scorers for duration_regression. The model judges the run's whole feature
    vector: K-means (ML.DETECT_ANOMALIES: is_anomaly from `contamination`, the share of
    training runs called anomalous, and normalized_distance to the nearest centroid) or the
    Vertex AI model (ML.PREDICT: the expected duration `value` and its prediction interval).
    Onto the contract, in seconds:
    - bqml_kmeans: expected_value / lower_bound / upper_bound are the mean / min / max duration
      of the series' last W runs the model called normal; anomaly_probability is the run's
      normalized_distance as a percentile of every scored run's; is_anomaly = the model's
      verdict and a duration above the upper bound (an outlier that is fast is no regression).
    - vertex: expected_value = value, the bounds are the interval, is_anomaly = duration above
      the upper bound, anomaly_probability = Phi((duration - value) / sigma) with sigma from the
      interval's half width (apoa_vertex_interval_z standard deviations).
    Episodes: islands of anomalous runs, as for every point scorer.
-#}
{% macro bqml_iid_score_ctes(kind, relation, scorer) -%}
    {%- set window = var('apoa_duration_window_runs') -%}
    iid_points as (

        select
            job_run_id,
            series_key,
            series_position,
            scored_at,
            known_at,
            observed_value
        from {{ relation }}

    ),

    {% if scorer == 'bqml_kmeans' -%}
    iid_detected as (

        select
            job_run_id,
            is_anomaly as is_outlier,
            normalized_distance
        from ml.detect_anomalies(
            model {{ ref('bqml_kmeans_runs') }},
            struct({{ var('apoa_bqml_kmeans_contamination', 0.02) }} as contamination),
            (
                select
                    job_run_id,
                    {{ apoa_bqml_kmeans_features() }}
                from {{ ref('bqml_run_features') }}
                where conclusion = 'success'
            )
        )

    ),

    iid_history as (

        select
            points.*,
            detected.is_outlier,
            percent_rank() over (order by detected.normalized_distance asc) as distance_percentile,
            avg(case when not detected.is_outlier then points.observed_value end) over (
                partition by points.series_key order by points.series_position asc
                rows between {{ window }} preceding and 1 preceding
            ) as normal_mean,
            min(case when not detected.is_outlier then points.observed_value end) over (
                partition by points.series_key order by points.series_position asc
                rows between {{ window }} preceding and 1 preceding
            ) as normal_min,
            max(case when not detected.is_outlier then points.observed_value end) over (
                partition by points.series_key order by points.series_position asc
                rows between {{ window }} preceding and 1 preceding
            ) as normal_max,
            count(case when not detected.is_outlier then 1 end) over (
                partition by points.series_key order by points.series_position asc
                rows between {{ window }} preceding and 1 preceding
            ) as normal_runs
        from iid_points as points
        inner join iid_detected as detected
            on points.job_run_id = detected.job_run_id

    ),

    iid_scored as (

        select
            job_run_id,
            series_key,
            series_position,
            '{{ kind }}' as kind,
            scored_at,
            known_at,
            observed_value,
            normal_mean as expected_value,
            normal_min as lower_bound,
            normal_max as upper_bound,
            is_outlier and observed_value > normal_max as is_anomaly,
            distance_percentile as anomaly_probability,
            normal_runs as history_runs
        from iid_history
        where normal_runs >= {{ var('apoa_duration_min_history') }}

    ),
    {%- else -%}
    {%- set z = var('apoa_vertex_interval_z', 1.96) -%}
    iid_predicted as (

        select
            job_run_id,
            value as predicted_value,
            lower_bound as predicted_lower_bound,
            upper_bound as predicted_upper_bound
        from ml.predict(
            model {{ ref('bqml_vertex_remote') }},
            (
                select
                    job_run_id,
                    {%- for column in apoa_vertex_input_schema() %}
                    {{ column }}{% if not loop.last %},{% endif %}
                    {%- endfor %}
                from {{ ref('bqml_run_features') }}
                where conclusion = 'success'
            )
        )

    ),

    iid_scored as (

        select
            points.job_run_id,
            points.series_key,
            points.series_position,
            '{{ kind }}' as kind,
            points.scored_at,
            points.known_at,
            points.observed_value,
            predicted.predicted_value as expected_value,
            predicted.predicted_lower_bound as lower_bound,
            predicted.predicted_upper_bound as upper_bound,
            points.observed_value > predicted.predicted_upper_bound as is_anomaly,
            case
                when predicted.predicted_upper_bound > predicted.predicted_lower_bound
                    then {{ normal_cdf(
                        '(points.observed_value - predicted.predicted_value) * ' ~ (2 * z)
                        ~ ' / (predicted.predicted_upper_bound - predicted.predicted_lower_bound)'
                    ) }}
                when points.observed_value > predicted.predicted_value then 1.0
                else 0.0
            end as anomaly_probability,
            points.series_position - 1 as history_runs
        from iid_points as points
        inner join iid_predicted as predicted
            on points.job_run_id = predicted.job_run_id

    ),
    {%- endif %}

    {{ point_anomaly_episode_ctes(
        kind, 'iid_scored',
        var('apoa_point_episode_min_runs'), var('apoa_point_episode_max_gap')
    ) }}
{%- endmacro %}
