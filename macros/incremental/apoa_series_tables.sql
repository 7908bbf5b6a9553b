{#-
    Numbering only what changed. A series table numbers every point of a series
    (`series_position`), so a new run in the middle of a long history renumbers nothing but its
    own series. Locally the duration, queue and failure series are incremental tables that
    rebuild each unit holding a job run whose state is newer than any they hold
    (`state_load_seq`) and replace that unit's rows (`delete+insert` on the unit): a job
    (`job_key`: both of its branch classes). A runner pool holds jobs from the whole history,
    so the queue series renumbers only its tail (below). Rebuilding the whole table on every
    micro-batch made each batch cost the history. On BigQuery they stay views.

        {{ config(materialized=apoa_series_materialization(), unique_key='job_key',
                  incremental_strategy='delete+insert') }}
        with eligible as (...),
        {{ apoa_touched_units_cte('eligible', 'job_key') }}
        numbered as (select ... from eligible where true {{ apoa_only_touched_units('job_key') }})
-#}
{% macro apoa_series_materialization() -%}
    {{- return('view' if target.type == 'bigquery' else 'incremental') -}}
{%- endmacro %}

{#- True in an incremental build of a series table (never on BigQuery, where they are views). -#}
{% macro apoa_series_incremental() -%}
    {{- return(apoa_series_materialization() == 'incremental' and apoa_is_incremental()) -}}
{%- endmacro %}

{#- The units to rebuild: those of the rows newer than the table (or all of them when the
    vars that shape the values changed: `fingerprint`, stored as series_fingerprint), and the
    unit a changed job run sat in before (its runner labels changed). Incremental builds
    only; renders nothing otherwise. -#}
{% macro apoa_touched_units_cte(eligible, unit, fingerprint=none) -%}
    {%- if apoa_series_incremental() -%}
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
    {%- if apoa_series_incremental() -%}
        and {{ unit }} in (select touched_units.unit from touched_units)
    {%- endif -%}
{%- endmacro %}

{#- A runner pool's series grows with the whole history, so its table is incremental by tail
    (int_queue_series): each touched pool is renumbered from the earliest point a changed job
    run has in it now, or had before (a job run whose labels changed leaves a gap in its old
    pool), and the points before that keep their positions. Rows are replaced by job_run_id;
    a job run that left every pool is deleted by `apoa_delete_left_pools`. -#}
{% macro apoa_in_a_runner_pool() -%}
    (
        runner_labels is not null
        and strpos(repository, '/') > 1
        and queue_seconds >= 0
        and {{ runner_label('runner_labels') }} != ''
    )
{%- endmacro %}

{% macro apoa_pool_tails_ctes(eligible, job_runs, fingerprint) -%}
    {%- if apoa_series_incremental() -%}
    pool_watermark as (

        select coalesce(max(stored.state_load_seq), -1) as state_load_seq
        from {{ this }} as stored
        where stored.series_fingerprint = '{{ fingerprint }}'

    ),

    pool_changes as (

        -- where a changed job run is now
        select
            changed.series_key,
            changed.created_at
        from {{ eligible }} as changed
        where changed.state_load_seq > (select pool_watermark.state_load_seq from pool_watermark)
        union all
        -- where it was, and every point numbered under other vars (the whole pool)
        select
            stored.series_key,
            stored.scored_at as created_at
        from {{ this }} as stored
        where
            stored.series_fingerprint != '{{ fingerprint }}'
            or stored.job_run_id in (
                select changed.job_run_id
                from {{ job_runs }} as changed
                where changed.state_load_seq > (select pool_watermark.state_load_seq from pool_watermark)
            )

    ),

    pool_tails as (

        {{ apoa_tail_offsets('pool_changes', 'created_at') }}

    ),
    {%- endif -%}
{%- endmacro %}

{#- Where each touched series' tail starts (the earliest of its `changes`, a relation of
    series_key and `at_column`) and how many stored points lie before it: the tail is
    numbered from there. Shared by the runner pools and the metric series. -#}
{% macro apoa_tail_offsets(changes, at_column) -%}
    select
        changes.series_key as tail_series_key,
        changes.tail_from,
        count(stored.scored_at) as tail_offset
    from (
        select
            series_key,
            min({{ at_column }}) as tail_from
        from {{ changes }}
        group by series_key
    ) as changes
    left join {{ this }} as stored
        on
            changes.series_key = stored.series_key
            and stored.scored_at < changes.tail_from
    group by changes.series_key, changes.tail_from
{%- endmacro %}

{#- `created_at >= <the earliest tail start>` in an incremental build (`true` otherwise): a
    lower bound on every touched pool's tail, read when the model runs (the earliest changed
    job run, and the earliest stored point of a changed job run or of other vars), so that
    the pool keys and season buckets are computed for the recent job runs only and older row
    groups are skipped. Computing them for every job run cost 0.45 s per micro-batch at 1M. -#}
{% macro apoa_pool_tail_floor(job_runs_relation, fingerprint) -%}
    {%- if apoa_series_incremental() -%}
        {%- set watermark = apoa_watermark(
            "coalesce(max(case when series_fingerprint = '" ~ fingerprint ~ "' then state_load_seq end), -1)"
        ) -%}
        {%- set changed = '(select min(created_at) from ' ~ job_runs_relation
            ~ ' where state_load_seq > ' ~ watermark ~ ')' -%}
        {%- set stored = '(select min(scored_at) from ' ~ this ~ " where series_fingerprint != '"
            ~ fingerprint ~ "' or job_run_id in (select job_run_id from " ~ job_runs_relation
            ~ ' where state_load_seq > ' ~ watermark ~ '))' -%}
        created_at >= {{ apoa_timestamp_literal('least(' ~ changed ~ ', ' ~ stored ~ ')') }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{#- `pool_tails.tail_offset +` before a tail's row_number() in an incremental build. -#}
{% macro apoa_pool_tail_offset() -%}
    {%- if apoa_series_incremental() -%}
        pool_tails.tail_offset +
    {%- endif -%}
{%- endmacro %}

{#- Only the touched pools' tails, in an incremental build. -#}
{% macro apoa_only_pool_tails(eligible) -%}
    {%- if apoa_series_incremental() -%}
    inner join pool_tails
        on
            {{ eligible }}.series_key = pool_tails.tail_series_key
            and {{ eligible }}.created_at >= pool_tails.tail_from
    {%- endif -%}
{%- endmacro %}

{#- Post-hook of int_queue_series: rows of job runs that are in no pool any more (a later
    delivery without labels or start). Their tail was renumbered without them. -#}
{% macro apoa_delete_left_pools() -%}
    {%- if apoa_series_incremental() -%}
    delete from {{ this }}
    where job_run_id in (
        select job_run_id
        from {{ ref('fct_job_runs') }}
        where not coalesce({{ apoa_in_a_runner_pool() }}, false)
    )
    {%- endif -%}
{%- endmacro %}

{#- A series of Cloud Monitoring points that no job claimed (int_metric_series) also grows with
    the history: each touched series is renumbered from its earliest change, a new unlinked
    point or a stored point that a job claimed since (its job was delivered after it), and
    the points before keep their positions. Rows are replaced by point_id; a claimed point is
    written once more with the job run that claimed it (`apoa_claimed_points_rows`) and the
    post-hook `apoa_delete_claimed_points` deletes it, in the same build. -#}
{% macro apoa_metric_changed_links_condition() -%}
    link_run_id is null and link_load_seq > {{ apoa_watermark('coalesce(max(state_load_seq), -1)') }}
{%- endmacro %}

{#- `<column> >= <the earliest changed point>` in an incremental build: no tail starts before
    it, and older row groups are skipped. `true` otherwise. -#}
{% macro apoa_metric_tail_floor(column) -%}
    {%- if apoa_series_incremental() -%}
        {%- set floor = apoa_earliest_literal(
            ref('int_metric_points_linked_to_job_runs'), 'end_at', apoa_metric_changed_links_condition()
        ) -%}
        {{ column }} >= {{ floor }}
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}

{% macro apoa_metric_tails_ctes(points, links) -%}
    {%- if apoa_series_incremental() -%}
    -- the point links this table was built from (each row keeps its own: state_load_seq)
    changed_links as (

        select
            point_id,
            job_run_id
        from {{ links }}
        where {{ apoa_metric_changed_links_condition() }}

    ),

    metric_changes as (

        -- a new point that no job claimed
        select
            {{ points }}.series_key,
            {{ points }}.end_at
        from {{ points }}
        inner join changed_links
            on {{ points }}.point_id = changed_links.point_id
        where changed_links.job_run_id is null
        union all
        -- a stored point that a job claimed since
        select
            stored.series_key,
            stored.scored_at as end_at
        from {{ this }} as stored
        inner join changed_links
            on stored.point_id = changed_links.point_id
        where changed_links.job_run_id is not null

    ),

    metric_tails as (

        {{ apoa_tail_offsets('metric_changes', 'end_at') }}

    ),
    {%- endif -%}
{%- endmacro %}

{% macro apoa_metric_tail_offset() -%}
    {{- 'metric_tails.tail_offset' if apoa_series_incremental() else '0' -}}
{%- endmacro %}

{% macro apoa_only_metric_tails(points) -%}
    {%- if apoa_series_incremental() -%}
    inner join metric_tails
        on
            {{ points }}.series_key = metric_tails.tail_series_key
            and {{ points }}.end_at >= metric_tails.tail_from
    {%- endif -%}
{%- endmacro %}

{#- `union all` the stored rows of the points a job claimed since, marked with that job run
    (they replace the stored rows; the post-hook deletes them). -#}
{% macro apoa_claimed_points_rows() -%}
    {%- if apoa_series_incremental() -%}
    union all
    select
        stored.series_key,
        stored.point_id,
        stored.metric_type,
        stored.series_name,
        stored.unit,
        stored.series_position,
        stored.minute_of_day,
        stored.observed_value,
        stored.scored_at,
        stored.known_at,
        stored.state_load_seq,
        changed_links.job_run_id as claimed_by_job_run_id
    from {{ this }} as stored
    inner join changed_links
        on stored.point_id = changed_links.point_id
    where changed_links.job_run_id is not null
    {%- endif -%}
{%- endmacro %}

{% macro apoa_delete_claimed_points() -%}
    {%- if apoa_series_materialization() == 'incremental' -%}
    delete from {{ this }} where claimed_by_job_run_id is not null
    {%- endif -%}
{%- endmacro %}

{#- The earliest `column` of the rows of `relation` that meet `condition`, as a timestamp
    literal (apoa_timestamp_literal). -#}
{% macro apoa_earliest_literal(relation, column, condition) -%}
    {{- return(apoa_timestamp_literal(
        '(select min(' ~ column ~ ') from ' ~ relation ~ ' where ' ~ condition ~ ')'
    )) -}}
{%- endmacro %}

{#- A timestamp SQL expression evaluated when the model runs, as a literal floored to the
    second ('null' when it is null): a comparison with a constant skips row groups by their
    min/max, where a scalar subquery would not. A forced rendering (offline compile) gets
    the expression. DuckDB (the series tables are incremental there only). -#}
{% macro apoa_timestamp_literal(expression) -%}
    {%- if not execute or var('apoa_force_incremental', none) not in (none, '') -%}
        {{ return(expression) }}
    {%- endif -%}
    {%- set micros = run_query('select epoch_us(' ~ expression ~ ') as earliest').columns[0].values()[0] -%}
    {%- if micros is none -%}
        {{ return('null') }}
    {%- endif -%}
    {%- set at = modules.datetime.datetime(1970, 1, 1) + modules.datetime.timedelta(microseconds=micros | int) -%}
    {{ return("timestamp '" ~ at.strftime('%Y-%m-%d %H:%M:%S') ~ "+00'") }}
{%- endmacro %}
