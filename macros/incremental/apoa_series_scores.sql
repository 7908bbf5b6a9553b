{#-
    Scoring only the series that changed. A scorer's windows, baselines and episodes look at
    one series at a time, so the scores of a series no new run reached are already right:
    locally the series scorers are incremental tables that re-score, from its first run, every
    series holding a job run whose state is newer than any they scored (`state_load_seq`),
    and replace that series' rows (`delete+insert` on `series_key`). A micro-batch then costs
    the touched series, not the history. On BigQuery they stay tables rebuilt in full (no
    load sequence there, and the warehouse has the room).

        {{ config(materialized=apoa_scores_materialization(), unique_key='series_key',
                  incremental_strategy='delete+insert') }}
        {{ duration_regression_score_ctes(apoa_touched_series(ref('int_duration_series'))) }}
-#}
{% macro apoa_scores_materialization() -%}
    {{- return('table' if target.type == 'bigquery' else 'incremental') -}}
{%- endmacro %}

{% macro apoa_touched_series(relation, series_key='series_key') -%}
    {%- if apoa_scores_materialization() == 'incremental' and apoa_is_incremental() -%}
        (
            select all_points.*
            from {{ relation }} as all_points
            where all_points.{{ series_key }} in (
                select changed.{{ series_key }}
                from {{ relation }} as changed
                where changed.state_load_seq > (
                    select coalesce(max(scored.state_load_seq), -1) from {{ this }} as scored
                )
            )
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}
