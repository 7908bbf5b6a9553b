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

{#- The strategy for insert-only models: their select leaves out every key already stored
    (`not exists` against `this`, the first copy wins), so a batch never replaces a row. -#}
{% macro apoa_insert_only_strategy() %}
    {{- return(adapter.dispatch('apoa_insert_only_strategy', 'apoa')()) -}}
{% endmacro %}

{% macro default__apoa_insert_only_strategy() -%}
    {{ return(apoa_incremental_strategy()) }}
{%- endmacro %}

{% macro duckdb__apoa_insert_only_strategy() -%}
    {#- append: delete+insert would read the stored keys to delete nothing (1.0 s of the
        Monitoring points' incremental run at 1M job runs, README "Data model benchmark") -#}
    {{ return('append') }}
{%- endmacro %}
