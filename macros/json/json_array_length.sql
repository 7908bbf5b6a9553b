{#- Number of elements of the JSON array at `path`; null when there is no array. -#}
{% macro json_array_length(expr, path='$') %}
    {{- return(adapter.dispatch('json_array_length', 'apoa')(expr, path)) -}}
{% endmacro %}

{% macro default__json_array_length(expr, path='$') -%}
    json_array_length({{ expr }}, '{{ path }}')
{%- endmacro %}

{% macro bigquery__json_array_length(expr, path='$') -%}
    {#- BigQuery has no json_array_length on STRING: turn the array into an ARRAY<STRING> and count it. -#}
    array_length(json_query_array({{ expr }}, '{{ path }}'))
{%- endmacro %}
