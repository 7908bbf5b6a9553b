{#-
    The columns of raw_finding_events under one set of names (message_id, publish_time,
    landed_at, subscription, attributes, payload), whoever landed the table.
-#}
{% macro raw_finding_event_columns() %}
    {{- return(adapter.dispatch('raw_finding_event_columns', 'apoa')()) -}}
{% endmacro %}

{% macro default__raw_finding_event_columns() -%}
    {#- Landed by the ingest writer (apoa serve's /push/apoa-findings): the columns every raw topic table has. -#}
    message_id,
    publish_time,
    ingested_at as landed_at,
    subscription,
    attributes,
    payload
{%- endmacro %}

{% macro bigquery__raw_finding_event_columns() -%}
    {#- Written by the BigQuery subscription apoa-findings-bigquery (infra/pubsub.tf, write_metadata):
        Pub/Sub's own column names, and no ingestion time but the publish time. -#}
    message_id,
    publish_time,
    publish_time as landed_at,
    subscription_name as subscription,
    attributes,
    data as payload
{%- endmacro %}
