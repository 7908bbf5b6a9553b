{#-
    Scorer plug-in points. var('apoa_scorer') picks the scorer for the whole project; each
    scorer is a pair of macros selecting from int_job_runs_with_baselines (`relation`) and
    returning the columns of ml_job_run_scores except score_id. A new scorer adds its branch
    here, in the `default__` shim when it is portable or in a `bigquery__` / `duckdb__` shim
    when it is not (e.g. a BigQuery ML.DETECT_ANOMALIES scorer).
-#}
{% macro duration_regression_scores(relation, scorer=none) %}
    {{- return(adapter.dispatch('duration_regression_scores', 'apoa')(relation, scorer or var('apoa_scorer', 'robust'))) -}}
{% endmacro %}

{% macro default__duration_regression_scores(relation, scorer) %}
    {%- if scorer == 'robust' -%}
        {{ return(robust_duration_regression_scores(relation)) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("apoa_scorer '" ~ scorer ~ "' has no duration_regression scorer") }}
{% endmacro %}

{% macro failure_rate_scores(relation, scorer=none) %}
    {{- return(adapter.dispatch('failure_rate_scores', 'apoa')(relation, scorer or var('apoa_scorer', 'robust'))) -}}
{% endmacro %}

{% macro default__failure_rate_scores(relation, scorer) %}
    {%- if scorer == 'robust' -%}
        {{ return(robust_failure_rate_scores(relation)) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("apoa_scorer '" ~ scorer ~ "' has no failure_rate scorer") }}
{% endmacro %}
