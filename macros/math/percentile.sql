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
    {#- percentile_cont is analytic-only on BigQuery: apply it to the group's values as an
        array, exact and interpolated like DuckDB's quantile_cont (approx_quantiles is neither). -#}
    {{ apoa_percentile_of_group(expr, fraction) }}
{%- endmacro %}


{#- BigQuery: the exact `fraction` quantile of `expr` over the current group (nulls skipped,
    null for a group without values). Used by bigquery__median and bigquery__percentile. -#}
{% macro apoa_percentile_of_group(expr, fraction) -%}
    (
        select percentile_cont(group_value, {{ fraction }}) over ()
        from unnest(array_agg({{ expr }} ignore nulls)) as group_value
        limit 1
    )
{%- endmacro %}
