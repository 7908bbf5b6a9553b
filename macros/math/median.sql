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
    {#- BigQuery's percentile_cont is analytic-only: run it over the group's values gathered
        into an array, so the grouped median is exact and interpolated as on DuckDB
        (approx_quantiles would pick one of the two middle values of an even count). -#}
    {{ apoa_percentile_of_group(expr, 0.5) }}
{%- endmacro %}
