{#- The `fraction` quantile (0.5 = median, 0.95 = p95) of `expr`, as a grouped aggregate. -#}
{% macro percentile(expr, fraction) %}
    {{- return(adapter.dispatch('percentile', 'apoa')(expr, fraction)) -}}
{% endmacro %}

{% macro default__percentile(expr, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expr }})
{%- endmacro %}

{% macro duckdb__percentile(expr, fraction) -%}
    {#- Exact, interpolating between the two nearest values (numpy's default 'linear'). -#}
    quantile_cont({{ expr }}, {{ fraction }})
{%- endmacro %}

{% macro bigquery__percentile(expr, fraction) -%}
    {#- percentile_cont is analytic-only on BigQuery; approx_quantiles is its grouped form
        (approximate on large groups, nearest value rather than interpolated). -#}
    approx_quantiles({{ expr }}, 100)[offset({{ (fraction * 100) | round | int }})]
{%- endmacro %}
