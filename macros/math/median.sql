{#- Median of `expr` as an aggregate (use with group by, never as a window over a frame). -#}
{% macro median(expr) %}
    {{- return(adapter.dispatch('median', 'apoa')(expr)) -}}
{% endmacro %}

{% macro default__median(expr) -%}
    percentile_cont({{ expr }}, 0.5)
{%- endmacro %}

{% macro duckdb__median(expr) -%}
    {#- DuckDB has an exact median aggregate (averages the two middle values of an even count). -#}
    median({{ expr }})
{%- endmacro %}

{% macro bigquery__median(expr) -%}
    {#- BigQuery's percentile_cont is analytic-only; approx_quantiles is its grouped median
        (exact for the small groups used here, one of the two middle values for an even count). -#}
    approx_quantiles({{ expr }}, 100)[offset(50)]
{%- endmacro %}
