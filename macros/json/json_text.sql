{#- The JSON scalar at `path` (a JSONPath such as '$.workflow_job.name') as text; null when absent. -#}
{% macro json_text(expr, path) %}
    {{- return(adapter.dispatch('json_text', 'apoa')(expr, path)) -}}
{% endmacro %}

{% macro default__json_text(expr, path) -%}
    json_value({{ expr }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_text(expr, path) -%}
    {#- DuckDB has no json_value for text input in every version; json_extract_string is its scalar-as-text. -#}
    json_extract_string({{ expr }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_text(expr, path) -%}
    {#- BigQuery's json_value reads JSON held in a STRING column and returns a STRING scalar. -#}
    json_value({{ expr }}, '{{ path }}')
{%- endmacro %}
