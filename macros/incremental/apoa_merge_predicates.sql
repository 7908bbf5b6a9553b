{#-
    incremental_predicates for a model whose merge can never match a row older than the
    incremental window (an append-only model: every new row has a key `this` does not hold,
    which the model itself guarantees). On BigQuery the merge then reads only the target's
    partitions on `partition_column` of the last apoa_bigquery_merge_window_days days (default
    7) instead of the whole table; DuckDB's delete+insert gets none.

        {{ config(..., incremental_predicates=apoa_merge_predicates('ingested_at')) }}

    Not for models whose rows move between partitions (a job run's completed_at is null until
    it completes): a predicate there would hide the old row from the merge, which would then
    insert a second one.
-#}
{% macro apoa_merge_predicates(partition_column) %}
    {{- return(adapter.dispatch('apoa_merge_predicates', 'apoa')(partition_column)) -}}
{% endmacro %}

{% macro default__apoa_merge_predicates(partition_column) -%}
    {{ return(none) }}
{%- endmacro %}

{% macro bigquery__apoa_merge_predicates(partition_column) -%}
    {#- A window relative to current_timestamp(): BigQuery prunes a merge's target partitions
        by a constant filter only (a subquery on `this` would not prune), and a model config
        is fixed when the project is parsed, before any watermark can be read. The model
        guarantees no match outside it, so the window's width is a cost, never a result. -#}
    {{ return([
        'DBT_INTERNAL_DEST.' ~ partition_column ~ ' > timestamp_sub(current_timestamp(), interval '
        ~ var('apoa_bigquery_merge_window_days', 7) ~ ' day)'
    ]) }}
{%- endmacro %}
