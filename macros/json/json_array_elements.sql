{#-
    A join clause that turns the JSON array held in `expr` into one row per element;
    each element (JSON text) is the column `element_column`, referenced unqualified:

        from jobs
        {{ json_array_elements('jobs.steps', 'step') }}

    Rows whose array is null or empty produce no element rows (an inner join).
-#}
{% macro json_array_elements(expr, element_column='element') %}
    {{- return(adapter.dispatch('json_array_elements', 'apoa')(expr, element_column)) -}}
{% endmacro %}

{% macro default__json_array_elements(expr, element_column='element') -%}
    cross join unnest(json_query_array({{ expr }}, '$')) as {{ element_column }}
{%- endmacro %}

{% macro duckdb__json_array_elements(expr, element_column='element') -%}
    {#- DuckDB unnests a LIST: cast the JSON array to JSON[]; the table alias's column list names the element. -#}
    cross join unnest(cast(json_extract({{ expr }}, '$') as json[])) as {{ element_column }}_elements ({{ element_column }})
{%- endmacro %}

{% macro bigquery__json_array_elements(expr, element_column='element') -%}
    {#- BigQuery unnests the ARRAY<STRING> of json_query_array; the unnest alias is the element itself. -#}
    cross join unnest(json_query_array({{ expr }}, '$')) as {{ element_column }}
{%- endmacro %}
