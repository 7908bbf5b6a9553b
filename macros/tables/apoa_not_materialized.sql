{#-
    `with name as {{ apoa_not_materialized() }} (...)`: DuckDB materializes a CTE that is read
    more than once, which copies every row of a large import CTE (all job attempts) before
    any filter a reader has could skip them; inlined, each reader's filters reach the table
    scan. BigQuery has no such hint and decides itself.
-#}
{% macro apoa_not_materialized() -%}
    {{- return(adapter.dispatch('apoa_not_materialized', 'apoa')()) -}}
{%- endmacro %}

{% macro default__apoa_not_materialized() -%}
{%- endmacro %}

{% macro duckdb__apoa_not_materialized() -%}
    not materialized
{%- endmacro %}
