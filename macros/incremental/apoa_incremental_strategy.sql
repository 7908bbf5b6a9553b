{#- The incremental strategy for models keyed by unique_key. -#}
{% macro apoa_incremental_strategy() %}
    {{- return(adapter.dispatch('apoa_incremental_strategy', 'apoa')()) -}}
{% endmacro %}

{% macro default__apoa_incremental_strategy() -%}
    {{ return('merge') }}
{%- endmacro %}

{% macro duckdb__apoa_incremental_strategy() -%}
    {#- delete+insert is dbt-duckdb's keyed strategy that works on every DuckDB version. -#}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro bigquery__apoa_incremental_strategy() -%}
    {#- merge is one atomic statement on BigQuery (delete+insert would be two jobs). -#}
    {{ return('merge') }}
{%- endmacro %}
