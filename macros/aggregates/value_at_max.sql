{#-
    The value of `expr` on the row where `order_expr` is highest, as a grouped aggregate
    ("the latest default branch seen"). Rows whose `order_expr` is null are skipped; choose an
    order_expr that is unique per group (an id), or equal rows give equal values.
-#}
{% macro value_at_max(expr, order_expr) %}
    {{- return(adapter.dispatch('value_at_max', 'apoa')(expr, order_expr)) -}}
{% endmacro %}

{% macro default__value_at_max(expr, order_expr) -%}
    any_value({{ expr }} having max {{ order_expr }})
{%- endmacro %}

{% macro duckdb__value_at_max(expr, order_expr) -%}
    {#- DuckDB's arg_max ignores rows whose ordering value is null. -#}
    arg_max({{ expr }}, {{ order_expr }})
{%- endmacro %}

{% macro bigquery__value_at_max(expr, order_expr) -%}
    {#- BigQuery: ANY_VALUE ... HAVING MAX, its max_by. bqemulator cannot parse HAVING MAX
        (docs/bigquery.md), so on its target alone: the first of the values ordered by
        order_expr, nulls skipped as HAVING MAX skips them. -#}
    {%- if target.name == 'bqemulator' -%}
        array_agg(
            case when {{ order_expr }} is not null then {{ expr }} end
            order by {{ order_expr }} desc limit 1
        )[safe_offset(0)]
    {%- else -%}
        any_value({{ expr }} having max {{ order_expr }})
    {%- endif -%}
{%- endmacro %}
