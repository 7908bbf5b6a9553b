{#- The JSON object or array at `path` as JSON text (e.g. a labels or steps array); null when absent. -#}
{% macro json_document(expr, path) %}
    {{- return(adapter.dispatch('json_document', 'apoa')(expr, path)) -}}
{% endmacro %}

{% macro default__json_document(expr, path) -%}
    json_query({{ expr }}, '{{ path }}')
{%- endmacro %}

{% macro duckdb__json_document(expr, path) -%}
    {#- json_extract returns DuckDB's JSON type: cast it back to text so the column type is plain varchar. -#}
    cast(json_extract({{ expr }}, '{{ path }}') as {{ dbt.type_string() }})
{%- endmacro %}

{% macro bigquery__json_document(expr, path) -%}
    {#- json_query (not json_value) returns objects and arrays, as STRING. -#}
    json_query({{ expr }}, '{{ path }}')
{%- endmacro %}
