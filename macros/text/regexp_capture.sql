{#- The first capture group of the RE2 `pattern` (plain text) in `expr`; null when no match. -#}
{% macro regexp_capture(expr, pattern) %}
    {{- return(adapter.dispatch('regexp_capture', 'apoa')(expr, pattern)) -}}
{% endmacro %}

{% macro default__regexp_capture(expr, pattern) -%}
    regexp_extract({{ expr }}, '{{ pattern }}')
{%- endmacro %}

{% macro duckdb__regexp_capture(expr, pattern) -%}
    {#- DuckDB returns '' (not null) when nothing matches, and takes the group number. -#}
    nullif(regexp_extract({{ expr }}, '{{ pattern }}', 1), '')
{%- endmacro %}

{% macro bigquery__regexp_capture(expr, pattern) -%}
    {#- BigQuery returns the pattern's one capture group, null when nothing matches; a raw
        literal keeps the pattern's backslashes. -#}
    regexp_extract({{ expr }}, r'{{ pattern }}')
{%- endmacro %}
