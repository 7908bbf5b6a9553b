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


{#-
    A pre_hook for an incremental model that holds several rows per key of another model
    (the steps of a job): before the new rows are merged, delete every row of the keys whose
    source changed, so that rows the new state no longer has (a step gone from the list) do
    not linger. `changed` is the source relation; the changed keys are selected with the one
    incremental predicate, apoa_new_rows, against this model's own watermark. Renders nothing
    on a full build (dbt then runs no hook).
-#}
{% macro apoa_delete_rows_of_changed_keys(
    key_column, changed, changed_key, load_seq_column, this_load_seq_column,
    ingested_at_column, this_ingested_at_column
) %}
    {%- if apoa_is_incremental() -%}
        delete from {{ this }}
        where {{ key_column }} in (
            select {{ changed_key }}
            from {{ changed }}
            {{ apoa_new_rows(load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column) }}
        )
    {%- endif -%}
{% endmacro %}
