{#-
    THE incremental predicate. Inside an incremental run it renders a `where` clause that
    keeps only rows newer than what `this` already holds; otherwise nothing. Put it right
    after the `from` of the import CTE that reads the upstream relation:

        from {{ source('raw', 'raw_github_events') }}
        {{ apoa_new_rows('load_seq', 'load_seq') }}

    load_seq_column:         upstream column holding the writer's load sequence.
    this_load_seq_column:    column of `this` holding the highest load_seq already processed.
    ingested_at_column /
    this_ingested_at_column: the same pair for ingestion time (used where load_seq is not).
-#}
{% macro apoa_new_rows(
    load_seq_column='load_seq',
    this_load_seq_column='load_seq',
    ingested_at_column='ingested_at',
    this_ingested_at_column='ingested_at'
) %}
    {%- if not apoa_is_incremental() -%}
        {{ return('') }}
    {%- endif -%}
    {{- return(adapter.dispatch('apoa_new_rows', 'apoa')(
        load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column
    )) -}}
{% endmacro %}

{% macro default__apoa_new_rows(load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column) -%}
    {#- The single writer assigns load_seq strictly increasing in commit order, so "after the
        highest load_seq I hold" never skips a row that committed late (a timestamp could). -#}
    where {{ load_seq_column }} > (select coalesce(max({{ this_load_seq_column }}), -1) from {{ this }})
{%- endmacro %}

{% macro bigquery__apoa_new_rows(load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column) -%}
    {#- BigQuery's streaming writers commit concurrently without a global sequence, and the raw
        tables are partitioned on ingested_at: re-read a lookback window behind the ingestion
        watermark (prunes partitions; rows seen twice are absorbed by the models' merge keys). -#}
    where {{ ingested_at_column }} > (
        select
            timestamp_sub(
                coalesce(max({{ this_ingested_at_column }}), timestamp '1970-01-01'),
                interval {{ var('apoa_bigquery_lookback_hours', 6) }} hour
            )
        from {{ this }}
    )
{%- endmacro %}
