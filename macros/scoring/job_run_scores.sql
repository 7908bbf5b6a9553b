{#-
    Scorer plug-in points, one per kind. var('apoa_scorer') picks the scorer for the whole
    project; each macro renders CTEs ending in `scores`, with every column of
    ml_job_run_scores but score_id and the per-kind descriptors (see _scoring__macros.yml).
    A new scorer adds its branch in the `default__` shim when it is portable SQL, or in a
    `bigquery__` / `duckdb__` shim when it is not (e.g. BigQuery ML's ML.DETECT_ANOMALIES).
    default_branch_broken and flaky_job are rules, the same for every scorer.
-#}
{% macro duration_regression_score_ctes(relation, scorer=none) %}
    {{- return(adapter.dispatch('duration_regression_score_ctes', 'apoa')(relation, scorer or var('apoa_scorer'))) -}}
{% endmacro %}

{% macro default__duration_regression_score_ctes(relation, scorer) %}
    {%- if scorer == 'robust' -%}
        {{ return(robust_level_shift_ctes('duration_regression', relation, 'duration')) }}
    {%- elif scorer == 'zscore' -%}
        {{ return(zscore_numeric_ctes('duration_regression', relation, 'duration')) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("apoa_scorer '" ~ scorer ~ "' has no duration_regression scorer") }}
{% endmacro %}

{% macro queue_spike_score_ctes(relation, scorer=none) %}
    {{- return(adapter.dispatch('queue_spike_score_ctes', 'apoa')(relation, scorer or var('apoa_scorer'))) -}}
{% endmacro %}

{% macro default__queue_spike_score_ctes(relation, scorer) %}
    {%- if scorer == 'robust' -%}
        {{ return(robust_level_shift_ctes(
            'queue_spike', relation, 'queue', var('apoa_queue_log_offset_seconds')
        )) }}
    {%- elif scorer == 'zscore' -%}
        {{ return(zscore_numeric_ctes('queue_spike', relation, 'queue')) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("apoa_scorer '" ~ scorer ~ "' has no queue_spike scorer") }}
{% endmacro %}

{% macro failure_rate_score_ctes(relation, scorer=none) %}
    {{- return(adapter.dispatch('failure_rate_score_ctes', 'apoa')(relation, scorer or var('apoa_scorer'))) -}}
{% endmacro %}

{% macro default__failure_rate_score_ctes(relation, scorer) %}
    {%- if scorer == 'robust' -%}
        {{ return(robust_rate_shift_ctes('failure_rate', relation, 'is_failure', 'failure')) }}
    {%- elif scorer == 'zscore' -%}
        {{ return(zscore_failure_rate_ctes('failure_rate', relation, 'has_failure')) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("apoa_scorer '" ~ scorer ~ "' has no failure_rate scorer") }}
{% endmacro %}

{% macro flaky_job_score_ctes(relation) %}
    {{- return(robust_rate_shift_ctes(
        'flaky_job', relation, 'is_unreproduced_failure', 'flaky', var('apoa_flaky_acceptable_rate')
    )) -}}
{% endmacro %}

{% macro default_branch_broken_score_ctes(relation) %}
    {{- return(broken_streak_ctes('default_branch_broken', relation)) -}}
{% endmacro %}

{#- Version of the configured scorer's logic, written into every score and finding. -#}
{% macro scorer_version(scorer=none) -%}
    {%- set versions = {'robust': '3', 'zscore': '1', 'bqml_arima': '1', 'bqml_kmeans': '1', 'vertex': '1'} -%}
    {{- versions.get(scorer or var('apoa_scorer'), 'unknown') -}}
{%- endmacro %}

{% macro new_failure_signature_score_ctes(relation) %}
    {{- return(new_signature_ctes('new_failure_signature', relation)) -}}
{% endmacro %}
