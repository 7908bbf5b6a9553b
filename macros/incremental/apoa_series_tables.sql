{#-
    Numbering only what changed. A series table numbers every point of a series
    (`series_position`), so a new run in the middle of a long history renumbers nothing but its
    own series. Locally the duration, queue and failure series are incremental tables that
    rebuild each unit holding a job run whose state is newer than any they hold
    (`state_load_seq`) and replace that unit's rows (`delete+insert` on the unit): a job
    (`job_key`: both of its branch classes) or a runner pool (`series_key`). Rebuilding the
    whole table on every micro-batch made each batch cost the history. On BigQuery they stay
    views.

        {{ config(materialized=apoa_series_materialization(), unique_key='job_key',
                  incremental_strategy='delete+insert') }}
        with eligible as (...),
        {{ apoa_touched_units_cte('eligible', 'job_key') }}
        numbered as (select ... from eligible where true {{ apoa_only_touched_units('job_key') }})
-#}
{% macro apoa_series_materialization() -%}
    {{- return('view' if target.type == 'bigquery' else 'incremental') -}}
{%- endmacro %}

{#- The units to rebuild: those of the rows newer than the table (or all of them when the
    vars that shape the values changed: `fingerprint`, stored as series_fingerprint), and the
    unit a changed job run sat in before (its runner labels changed). Incremental builds
    only; renders nothing otherwise. -#}
{% macro apoa_touched_units_cte(eligible, unit, fingerprint=none) -%}
    {%- if apoa_series_materialization() == 'incremental' and apoa_is_incremental() -%}
    stored_watermark as (

        select coalesce(max(stored.state_load_seq), -1) as state_load_seq
        from {{ this }} as stored
        {%- if fingerprint is not none %}
        where stored.series_fingerprint = '{{ fingerprint }}'
        {%- endif %}

    ),

    changed_rows as (

        select
            changed.job_run_id,
            changed.{{ unit }} as unit
        from {{ eligible }} as changed
        where changed.state_load_seq > (select state_load_seq from stored_watermark)

    ),

    touched_units as (

        select unit from changed_rows
        union
        select stored.{{ unit }} as unit
        from {{ this }} as stored
        inner join changed_rows
            on stored.job_run_id = changed_rows.job_run_id

    ),
    {%- endif -%}
{%- endmacro %}

{#- `and <unit> in (touched units)` in an incremental build; nothing otherwise. -#}
{% macro apoa_only_touched_units(unit) -%}
    {%- if apoa_series_materialization() == 'incremental' and apoa_is_incremental() -%}
        and {{ unit }} in (select touched_units.unit from touched_units)
    {%- endif -%}
{%- endmacro %}
