{#-
    An ISO-8601 string from GitHub ('2021-12-15T17:23:57Z', '2021-08-05T10:26:08.000Z',
    '2021-08-05T12:26:08+02:00') as a UTC timestamp; null or empty or unparseable -> null.
-#}
{% macro iso_timestamp(expr) %}
    {{- return(adapter.dispatch('iso_timestamp', 'apoa')(expr)) -}}
{% endmacro %}

{% macro default__iso_timestamp(expr) -%}
    {{ dbt.safe_cast("nullif(" ~ expr ~ ", '')", dbt.type_timestamp()) }}
{%- endmacro %}

{% macro duckdb__iso_timestamp(expr) -%}
    {#- A plain cast to TIMESTAMP drops the offset instead of applying it: parse as TIMESTAMPTZ,
        then take the wall clock in UTC as a naive TIMESTAMP (DuckDB's UTC convention). Text
        in UTC already ('...Z', nearly all of it) takes the plain cast, several times faster. -#}
    case
        when {{ expr }} like '%Z' then try_cast({{ expr }} as timestamp)
        else timezone('UTC', try_cast(nullif({{ expr }}, '') as timestamptz))
    end
{%- endmacro %}

{% macro bigquery__iso_timestamp(expr) -%}
    {#- BigQuery's TIMESTAMP is UTC and its cast understands 'T', 'Z', offsets and fractions. -#}
    safe_cast(nullif({{ expr }}, '') as timestamp)
{%- endmacro %}
