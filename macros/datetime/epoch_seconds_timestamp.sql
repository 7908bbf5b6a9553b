{#- Seconds since the Unix epoch (a number) as a UTC timestamp; null stays null. -#}
{% macro epoch_seconds_timestamp(expr) %}
    {{- return(adapter.dispatch('epoch_seconds_timestamp', 'apoa')(expr)) -}}
{% endmacro %}

{% macro default__epoch_seconds_timestamp(expr) -%}
    timestamp_seconds(cast({{ expr }} as {{ dbt.type_bigint() }}))
{%- endmacro %}

{% macro duckdb__epoch_seconds_timestamp(expr) -%}
    {#- to_timestamp gives a TIMESTAMPTZ: take its UTC wall clock, DuckDB's UTC convention. -#}
    timezone('UTC', to_timestamp(cast({{ expr }} as double)))
{%- endmacro %}
