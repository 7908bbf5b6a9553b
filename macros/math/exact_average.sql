{#-
    The average of a float column that does not depend on the order rows are added in: a
    parallel float sum does (its last bits do), which would make an incremental build differ
    from a full refresh. The values are summed as exact decimals (9 decimal places kept).
-#}
{% macro exact_average(expr) %}
    {{- return(adapter.dispatch('exact_average', 'apoa')(expr)) -}}
{% endmacro %}

{% macro default__exact_average(expr) -%}
    cast(avg(cast({{ expr }} as numeric)) as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__exact_average(expr) -%}
    {#- DuckDB sums decimals exactly (in a 128-bit integer) before dividing. -#}
    cast(avg(cast({{ expr }} as decimal(38, 9))) as double)
{%- endmacro %}

{% macro bigquery__exact_average(expr) -%}
    {#- NUMERIC(38, 9) is exactly BigQuery's NUMERIC; spelled out because bqemulator reads a bare
        NUMERIC as DuckDB's DECIMAL(18, 3), which rounds to 3 places (docs/bigquery.md). -#}
    cast(avg(cast({{ expr }} as numeric(38, 9))) as float64)
{%- endmacro %}
