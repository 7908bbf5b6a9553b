{#-
    THE incremental predicate. Inside an incremental run it renders a `where` clause that
    keeps only rows newer than what `this` already holds; when the warehouse owner set a
    load_seq ceiling for the build (below), also, in any run, only rows up to it; otherwise
    nothing. Put it right after the `from` of the import CTE that reads the upstream relation:

        from {{ source('raw', 'raw_github_events') }}
        {{ apoa_new_rows('load_seq', 'load_seq') }}

    load_seq_column:         upstream column holding the writer's load sequence.
    this_load_seq_column:    column of `this` holding the highest load_seq already processed.
    ingested_at_column /
    this_ingested_at_column: the same pair for ingestion time (used where load_seq is not).
    keyword:                 'where' (default), or 'and' to join a where clause of your own:
                             DuckDB pushes a filter on raw columns into the table scan only
                             when it sits in the same where clause as the scan.

    The watermark is read when the model is compiled and rendered as a literal: a comparison
    with a constant is pushed into the table scan (DuckDB skips row groups by their min/max,
    BigQuery prunes partitions), where a scalar subquery would be joined to every row.
-#}
{% macro apoa_new_rows(
    load_seq_column='load_seq',
    this_load_seq_column='load_seq',
    ingested_at_column='ingested_at',
    this_ingested_at_column='ingested_at',
    keyword='where'
) %}
    {%- set conditions = [] -%}
    {%- if apoa_is_incremental() -%}
        {%- do conditions.append(adapter.dispatch('apoa_new_rows', 'apoa')(
            load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column
        ) | trim) -%}
    {%- endif -%}
    {%- set ceiling = adapter.dispatch('apoa_load_seq_ceiling', 'apoa')(load_seq_column) | trim -%}
    {%- if ceiling -%}
        {%- do conditions.append(ceiling) -%}
    {%- endif -%}
    {%- if not conditions -%}
        {{ return('') }}
    {%- endif -%}
    {{- return(keyword ~ ' ' ~ conditions | join(' and ')) -}}
{% endmacro %}


{#-
    A build's view of raw: rows up to one load_seq, fixed by the warehouse owner when the build
    starts (var apoa_load_seq_ceiling, set by apoa/warehouse.py). The loader keeps committing
    while dbt runs, and each model reads raw when its own statement runs: without a ceiling,
    stg_github__workflow_runs could hold a delivery that landed after stg_github__workflow_jobs
    was built, fct_job_runs would take that later load_seq as its watermark, and the job
    deliveries landed in between would sit below it, never read (seen in `apoa watch`). Every
    load_seq column downstream derives from raw's, so one bound serves every apoa_new_rows.
-#}
{% macro default__apoa_load_seq_ceiling(load_seq_column) -%}
    {%- set ceiling = var('apoa_load_seq_ceiling', none) -%}
    {%- if ceiling not in (none, '') -%}
        {{ load_seq_column }} <= {{ ceiling | int }}
    {%- endif -%}
{%- endmacro %}

{% macro bigquery__apoa_load_seq_ceiling(load_seq_column) -%}
    {#- No load_seq on BigQuery: the ingested_at lookback re-reads what landed mid-build. -#}
{%- endmacro %}

{% macro default__apoa_new_rows(load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column) -%}
    {#- The single writer assigns load_seq strictly increasing in commit order, so "after the
        highest load_seq I hold" never skips a row that committed late (a timestamp could). -#}
    {{ load_seq_column }} > {{ apoa_watermark('coalesce(max(' ~ this_load_seq_column ~ '), -1)') }}
{%- endmacro %}

{% macro bigquery__apoa_new_rows(load_seq_column, this_load_seq_column, ingested_at_column, this_ingested_at_column) -%}
    {#- BigQuery's streaming writers commit concurrently without a global sequence, and the raw
        tables are partitioned on ingested_at: re-read a lookback window behind the ingestion
        watermark (prunes partitions; rows seen twice are absorbed by the models' merge keys). -#}
    {{ ingested_at_column }} > {{ apoa_watermark(
        'timestamp_sub(coalesce(max(' ~ this_ingested_at_column ~ "), timestamp '1970-01-01'), interval "
        ~ var('apoa_bigquery_lookback_hours', 6) ~ ' hour)',
        'timestamp'
    ) }}
{%- endmacro %}


{#-
    The value of `aggregate_sql` over `this`, as a SQL literal when it can be read now (the
    model is being run and its table exists), else as the scalar subquery itself (dbt compile
    without a warehouse, apoa_force_incremental renderings). literal_type: 'number' or
    'timestamp' (BigQuery SQL: read with unix_micros, rendered as a UTC timestamp literal
    floored to the second, which only widens a lower bound).
-#}
{% macro apoa_watermark(aggregate_sql, literal_type='number') -%}
    {%- set subquery = '(select ' ~ aggregate_sql ~ ' from ' ~ this ~ ')' -%}
    {%- if not execute or var('apoa_force_incremental', none) not in (none, '') -%}
        {#- A forced rendering (offline compile) must not ask the warehouse for `this`. -#}
        {{ return(subquery) }}
    {%- endif -%}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    {%- if relation is none -%}
        {{ return(subquery) }}
    {%- endif -%}
    {%- if literal_type == 'timestamp' -%}
        {#- (BigQuery) read as whole microseconds, written back as a UTC literal floored to the
            second: the window then reaches under a second further back (rows the merge absorbs),
            and bqemulator misreads fractional seconds in some queries (docs/bigquery.md) -#}
        {%- set micros = 'unix_micros(' ~ aggregate_sql ~ ')' -%}
        {%- set value = run_query('select ' ~ micros ~ ' as watermark from ' ~ this).columns[0].values()[0] -%}
        {%- set at = modules.datetime.datetime(1970, 1, 1) + modules.datetime.timedelta(microseconds=value | int) -%}
        {{ return("timestamp '" ~ at.strftime('%Y-%m-%d %H:%M:%S') ~ "+00'") }}
    {%- endif -%}
    {%- set value = run_query('select ' ~ aggregate_sql ~ ' as watermark from ' ~ this).columns[0].values()[0] -%}
    {{ return(value) }}
{%- endmacro %}


{#-
    True where apoa_new_rows can return rows an earlier build already processed (BigQuery's
    lookback window). A model that adds counts to the state it holds must then recompute the
    keys it touches from all their rows instead (stg_github__workflow_jobs / _runs).
-#}
{% macro apoa_new_rows_overlap() %}
    {{- return(adapter.dispatch('apoa_new_rows_overlap', 'apoa')()) -}}
{% endmacro %}

{% macro default__apoa_new_rows_overlap() -%}
    {#- load_seq: each row is new exactly once. -#}
    {{ return(false) }}
{%- endmacro %}

{% macro bigquery__apoa_new_rows_overlap() -%}
    {#- The ingested_at window re-reads apoa_bigquery_lookback_hours of rows. -#}
    {{ return(true) }}
{%- endmacro %}
