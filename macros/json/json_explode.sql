{#-
    One row per element of a JSON array column, with fields of each element: a whole select.

        {{ json_explode(
            'workflow_jobs', 'steps',
            keep=['job_id', 'delivery_id'],
            fields={'step_number': '$.number', 'step_name': '$.name'},
        ) }}

    renders `select job_id, delivery_id, <step_number>, <step_name> from workflow_jobs ...`
    with one row per element of `steps` (rows whose array is null or empty give none). Fields
    are scalars at dotted paths, returned as text; `documents` lists the fields that are
    objects or arrays, returned as JSON text.
-#}
{% macro json_explode(relation, array_column, keep, fields, documents=[]) %}
    {{- return(adapter.dispatch('json_explode', 'apoa')(relation, array_column, keep, fields, documents)) -}}
{% endmacro %}

{% macro default__json_explode(relation, array_column, keep, fields, documents=[]) -%}
    select
        {% for column in keep -%}
            exploded_from.{{ column }},
        {% endfor -%}
        {% for name, path in fields.items() -%}
            {% if name in documents -%}
                json_query(element, '{{ path }}') as {{ name }}
            {%- else -%}
                json_value(element, '{{ path }}') as {{ name }}
            {%- endif %}{{ ',' if not loop.last }}
        {% endfor %}
    from {{ relation }} as exploded_from
    cross join unnest(json_query_array(exploded_from.{{ array_column }}, '$')) as element
{%- endmacro %}

{% macro duckdb__json_explode(relation, array_column, keep, fields, documents=[]) -%}
    {#- from_json parses each array once into a list of structs of exactly these fields, and an
        unnest in the select list streams it: a lateral `cross join unnest` of JSON elements is
        several times slower (each element is re-serialized, then parsed again). -#}
    {%- set spec = {} -%}
    {%- for name, path in fields.items() -%}
        {%- set parts = path[2:].split('.') -%}
        {%- set node = namespace(value=spec) -%}
        {%- for part in parts[:-1] -%}
            {%- if part not in node.value -%}{%- do node.value.update({part: {}}) -%}{%- endif -%}
            {%- set node.value = node.value[part] -%}
        {%- endfor -%}
        {%- do node.value.update({parts[-1]: 'JSON' if name in documents else 'VARCHAR'}) -%}
    {%- endfor -%}
    select
        {% for column in keep -%}
            {{ column }},
        {% endfor -%}
        {% for name, path in fields.items() -%}
            {%- set access = ['element'] -%}
            {%- for part in path[2:].split('.') -%}{%- do access.append('"' ~ part ~ '"') -%}{%- endfor -%}
            {% if name in documents -%}
                cast({{ access | join('.') }} as varchar) as {{ name }}
            {%- else -%}
                {{ access | join('.') }} as {{ name }}
            {%- endif %}{{ ',' if not loop.last }}
        {% endfor %}
    from (
        select
            {% for column in keep -%}
                {{ column }},
            {% endfor -%}
            unnest(from_json({{ array_column }}, '[{{ tojson(spec) }}]')) as element
        from {{ relation }}
    ) as exploded
{%- endmacro %}
