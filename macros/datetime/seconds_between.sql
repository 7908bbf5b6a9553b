{#- Seconds (float, fractions kept) from `start_expr` to `end_expr`; negative when end is earlier. -#}
{% macro seconds_between(start_expr, end_expr) %}
    {{- return(adapter.dispatch('seconds_between', 'apoa')(start_expr, end_expr)) -}}
{% endmacro %}

{% macro default__seconds_between(start_expr, end_expr) -%}
    {{ dbt.datediff(start_expr, end_expr, 'second') }}
{%- endmacro %}

{% macro duckdb__seconds_between(start_expr, end_expr) -%}
    {#- date_diff counts crossed second boundaries (an integer); epoch() differences keep fractions. -#}
    (epoch({{ end_expr }}) - epoch({{ start_expr }}))
{%- endmacro %}

{% macro bigquery__seconds_between(start_expr, end_expr) -%}
    {#- timestamp_diff truncates to its unit: count milliseconds to keep fractions of a second. -#}
    (timestamp_diff({{ end_expr }}, {{ start_expr }}, millisecond) / 1000.0)
{%- endmacro %}
