{#-
    Seasonality buckets: the hour of the week, weekdays pooled (a CI job behaves alike on
    Monday and Thursday at 10:00), in blocks of `block_hours` hours. Weekday blocks are
    numbered 0.., weekend blocks 100..; a block of 24 hours leaves weekday vs weekend only.
-#}
{% macro season_bucket(timestamp_expr, block_hours) -%}
    (case when {{ is_weekend(timestamp_expr) }} then 100 else 0 end
        + cast(floor(extract(hour from {{ timestamp_expr }}) / {{ block_hours }}) as {{ dbt.type_bigint() }}))
{%- endmacro %}

{% macro is_weekend(timestamp_expr) %}
    {{- return(adapter.dispatch('is_weekend', 'apoa')(timestamp_expr)) -}}
{% endmacro %}

{% macro default__is_weekend(timestamp_expr) -%}
    {#- Postgres and Snowflake: dow is 0 (Sunday) to 6 (Saturday). -#}
    extract(dow from {{ timestamp_expr }}) in (0, 6)
{%- endmacro %}

{% macro duckdb__is_weekend(timestamp_expr) -%}
    {#- ISO day of week: 1 (Monday) to 7 (Sunday). -#}
    extract(isodow from {{ timestamp_expr }}) >= 6
{%- endmacro %}

{% macro bigquery__is_weekend(timestamp_expr) -%}
    {#- BigQuery's dayofweek is 1 (Sunday) to 7 (Saturday). -#}
    extract(dayofweek from {{ timestamp_expr }}) in (1, 7)
{%- endmacro %}
