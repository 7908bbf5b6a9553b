{#-
    Physical layout of the large tables, per adapter. BigQuery partitions them by day on a
    timestamp column and clusters them; DuckDB has neither (dbt-duckdb reads `partition_by`
    as a DuckLake option, so it must get none), so both macros return none there.

        {{ config(partition_by=apoa_partition_by('completed_at'), cluster_by=apoa_cluster_by(['job_key'])) }}
-#}
{% macro apoa_partition_by(field, data_type='timestamp', granularity='day') %}
    {{- return(adapter.dispatch('apoa_partition_by', 'apoa')(field, data_type, granularity)) -}}
{% endmacro %}

{% macro default__apoa_partition_by(field, data_type, granularity) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro bigquery__apoa_partition_by(field, data_type, granularity) -%}
    {#- Day partitions on the event time prune scans of dashboards and incremental merges. -#}
    {{ return({'field': field, 'data_type': data_type, 'granularity': granularity}) }}
{%- endmacro %}


{% macro apoa_cluster_by(columns) %}
    {{- return(adapter.dispatch('apoa_cluster_by', 'apoa')(columns)) -}}
{% endmacro %}

{% macro default__apoa_cluster_by(columns) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro bigquery__apoa_cluster_by(columns) -%}
    {#- Up to four clustering columns; the merge keys first so merges touch few blocks. -#}
    {{ return(columns) }}
{%- endmacro %}
