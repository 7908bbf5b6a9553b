{#-
    Read many fields of one JSON document with a single parse. Parsing is what staging pays
    for (a GitHub delivery is 8-22 KB): one call per field would parse the document once per
    field. Declare the fields once, as an ordered mapping name -> JSONPath, then

        {%- set job_paths = {'job_id': '$.workflow_job.id', 'steps': '$.workflow_job.steps'} -%}

        -- stage 1, in one CTE: parse once
        {{ json_extract_paths('payload', job_paths) }} as job_fields
        -- stage 2, in the next CTE: pick the fields by name
        {{ json_path_text('job_fields', job_paths, 'job_id') }} as job_id,
        {{ json_path_document('job_fields', job_paths, 'steps') }} as steps

    DuckDB: stage 1 is json_extract_string(payload, [paths...]), a list of texts (scalars
    unquoted, objects and arrays as JSON text); stage 2 indexes that list.
    BigQuery: stage 1 is safe.parse_json(payload), a JSON value; stage 2 navigates it.
-#}
{% macro json_extract_paths(expr, paths) %}
    {{- return(adapter.dispatch('json_extract_paths', 'apoa')(expr, paths)) -}}
{% endmacro %}

{% macro default__json_extract_paths(expr, paths) -%}
    {{ expr }}
{%- endmacro %}

{% macro duckdb__json_extract_paths(expr, paths) -%}
    {#- One parse per row, all paths at once; missing paths give null list elements. -#}
    json_extract_string({{ expr }}, [
        {%- for path in paths.values() -%}
            '{{ path }}'{{ ', ' if not loop.last }}
        {%- endfor -%}
    ])
{%- endmacro %}

{% macro bigquery__json_extract_paths(expr, paths) -%}
    {#- Parse the STRING once into JSON; json_value / json_query on JSON navigate it without
        re-parsing. wide_number_mode 'round' keeps 64-bit ids from failing the parse. -#}
    safe.parse_json({{ expr }}, wide_number_mode => 'round')
{%- endmacro %}


{#- The scalar field `name` of a json_extract_paths() column, as text (null when absent). -#}
{% macro json_path_text(fields, paths, name) %}
    {{- return(adapter.dispatch('json_path_text', 'apoa')(fields, paths, name)) -}}
{% endmacro %}

{% macro default__json_path_text(fields, paths, name) -%}
    json_value({{ fields }}, '{{ paths[name] }}')
{%- endmacro %}

{% macro duckdb__json_path_text(fields, paths, name) -%}
    {{ fields }}[{{ apoa_path_position(paths, name) }}]
{%- endmacro %}


{#- The object or array field `name` of a json_extract_paths() column, as JSON text. -#}
{% macro json_path_document(fields, paths, name) %}
    {{- return(adapter.dispatch('json_path_document', 'apoa')(fields, paths, name)) -}}
{% endmacro %}

{% macro default__json_path_document(fields, paths, name) -%}
    json_query({{ fields }}, '{{ paths[name] }}')
{%- endmacro %}

{% macro duckdb__json_path_document(fields, paths, name) -%}
    {#- json_extract_string already renders objects and arrays as JSON text. -#}
    {{ fields }}[{{ apoa_path_position(paths, name) }}]
{%- endmacro %}

{% macro bigquery__json_path_document(fields, paths, name) -%}
    {#- json_query on JSON returns JSON: turn it back into text like the other adapters, and a
        JSON null into SQL null (json_type of a missing path is null too). -#}
    case
        when json_type(json_query({{ fields }}, '{{ paths[name] }}')) != 'null'
            then to_json_string(json_query({{ fields }}, '{{ paths[name] }}'))
    end
{%- endmacro %}


{#- 1-based position of `name` among the keys of `paths` (a compile error when absent). -#}
{% macro apoa_path_position(paths, name) -%}
    {%- set names = paths.keys() | list -%}
    {%- if name not in names -%}
        {{ exceptions.raise_compiler_error("JSON field '" ~ name ~ "' is not among " ~ names) }}
    {%- endif -%}
    {{ names.index(name) + 1 }}
{%- endmacro %}


{#- The array field `name` of a json_extract_paths() column, as JSON text; null when the field is
    absent or is not an array (a payload that sends "labels": "x" must not break the unnest). -#}
{% macro json_path_array(fields, paths, name) %}
    {{- return(adapter.dispatch('json_path_array', 'apoa')(fields, paths, name)) -}}
{% endmacro %}

{% macro default__json_path_array(fields, paths, name) -%}
    case
        when json_type(json_query({{ fields }}, '{{ paths[name] }}')) = 'array'
            then json_query({{ fields }}, '{{ paths[name] }}')
    end
{%- endmacro %}

{% macro duckdb__json_path_array(fields, paths, name) -%}
    {#- json_extract_string gives a string field unquoted: test that the text is a JSON array. -#}
    case
        when
            json_valid({{ fields }}[{{ apoa_path_position(paths, name) }}])
            and json_type({{ fields }}[{{ apoa_path_position(paths, name) }}]) = 'ARRAY'
            then {{ fields }}[{{ apoa_path_position(paths, name) }}]
    end
{%- endmacro %}

{% macro bigquery__json_path_array(fields, paths, name) -%}
    case
        when json_type(json_query({{ fields }}, '{{ paths[name] }}')) = 'array'
            then to_json_string(json_query({{ fields }}, '{{ paths[name] }}'))
    end
{%- endmacro %}
