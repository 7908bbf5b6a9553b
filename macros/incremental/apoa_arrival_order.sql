{#-
    The order in which raw rows arrived, as an `order by` list: which copy of a message or
    delivery is the first, which state won a tie. DuckDB's single writer numbers rows
    (load_seq); on BigQuery many ingest instances write at once and load_seq is null, so
    arrival is ingestion time, then a unique column to break ties.

        row_number() over (partition by point_id order by {{ apoa_arrival_order() }})
        ... order by status_rank desc, {{ apoa_arrival_order(tiebreak_column='delivery_id', direction='desc') }}
-#}
{% macro apoa_arrival_order(
    load_seq_column='load_seq',
    ingested_at_column='ingested_at',
    tiebreak_column='message_id',
    direction='asc'
) %}
    {{- return(adapter.dispatch('apoa_arrival_order', 'apoa')(
        load_seq_column, ingested_at_column, tiebreak_column, direction
    )) -}}
{% endmacro %}

{% macro default__apoa_arrival_order(load_seq_column, ingested_at_column, tiebreak_column, direction) -%}
    {#- One writer assigns load_seq in commit order: unique and exact. -#}
    {{ load_seq_column }} {{ direction }}
{%- endmacro %}

{% macro bigquery__apoa_arrival_order(load_seq_column, ingested_at_column, tiebreak_column, direction) -%}
    {#- No global sequence on BigQuery: ingestion time, then a unique column for equal times. -#}
    {{ ingested_at_column }} {{ direction }}, {{ tiebreak_column }} {{ direction }}
{%- endmacro %}


{#-
    Keeps the first copy of each GitHub delivery (a redelivery is the same delivery under another
    message id) among the raw rows of github_events (a list) that the import CTE it ends
    selects; a row without the event attribute counts as the first of them. Put it
    at clause level right after that CTE's where clause, whose last condition is the
    incremental predicate: it continues the where clause (`and ...`, DuckDB) or adds a
    `qualify` (BigQuery). A message without the delivery attribute is its own delivery.
-#}
{% macro github_first_delivery_copy(github_events) %}
    {%- if apoa_unsafe('KEEP_EVERY_DELIVERY_COPY') -%}
        {{- return('') -}}  {#- fault tests only (macros/unsafe/apoa_unsafe.sql) -#}
    {%- endif -%}
    {{- return(adapter.dispatch('github_first_delivery_copy', 'apoa')(github_events)) -}}
{% endmacro %}

{% macro default__github_first_delivery_copy(github_events) -%}
    {#- load_seq is unique per row: the copy is chosen from the attributes alone, before any
        payload is read (DuckDB runs the semi-join inside the scan). -#}
    and load_seq in (
        select min(copies.load_seq) as first_load_seq
        from {{ source('raw', 'raw_github_events') }} as copies
        where
            coalesce({{ json_text('copies.attributes', '$.github_event') }}, '{{ github_events[0] }}')
            in ('{{ github_events | join("', '") }}')
            {{ apoa_new_rows(keyword='and') }}
        group by coalesce({{ json_text('copies.attributes', '$.github_delivery') }}, copies.message_id)
    )
{%- endmacro %}

{% macro bigquery__github_first_delivery_copy(github_events) -%}
    {#- load_seq is null on BigQuery, and insertId de-duplication is best effort, so one message
        may be there twice: number the copies by arrival and keep each delivery's first row. -#}
    qualify row_number() over (
        partition by coalesce({{ json_text('attributes', '$.github_delivery') }}, message_id)
        order by {{ apoa_arrival_order() }}
    ) = 1
{%- endmacro %}
