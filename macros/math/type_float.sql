{#- The double-precision float type name (dbt.type_float() maps to a 4-byte FLOAT on DuckDB). -#}
{% macro type_double() %}
    {{- return(adapter.dispatch('type_double', 'apoa')()) -}}
{% endmacro %}

{% macro default__type_double() -%}
    {{ dbt.type_float() }}
{%- endmacro %}

{% macro duckdb__type_double() -%}
    {#- DuckDB's FLOAT is single precision: ask for DOUBLE explicitly. -#}
    double
{%- endmacro %}

{% macro bigquery__type_double() -%}
    {#- FLOAT64 is BigQuery's only binary float. -#}
    float64
{%- endmacro %}
