{#-
    Scoring only what changed. A scorer's windows, baselines and episodes look at one series
    at a time, so the scores of a series no new run reached are already right: locally the
    series scorers are incremental tables that re-score every series holding a job run whose
    state is newer than any they scored (`state_load_seq`) with today's scorer and vars
    (`scoring_fingerprint`), and replace that series' tail (the `series_tail` strategy below).
    Within such a series only its tail is scored again (`apoa_rescore_cte`): a runner pool's
    series grows with the whole history, and re-scoring it from its first job made every
    micro-batch cost the history. On BigQuery they stay tables rebuilt in full (no load
    sequence there, and the warehouse has the room).

        {{ config(materialized=apoa_scores_materialization(), unique_key='series_key',
                  incremental_strategy='series_tail') }}
        with {{ apoa_rescore_cte(ref('int_duration_series')) }}
        {{ duration_regression_score_ctes(apoa_touched_series(ref('int_duration_series'))) }},
        ...
        {{ apoa_rescored_rows('described') }}
-#}
{% macro apoa_scores_materialization() -%}
    {{- return('table' if target.type == 'bigquery' else 'incremental') -}}
{%- endmacro %}

{#- Which positions of each touched series are scored again. A score depends on the points
    before it (trailing windows, baselines) and, through its episode, on a few after it
    (persistence, the end of an episode): a new point changes nothing more than
    `apoa_rescore_margin_runs` before it, and nothing inside an episode that reaches that far
    is kept half-scored. `rescore_from` is the first position scored again: 1 for a series
    never scored under today's fingerprint. Incremental builds only. -#}
{% macro apoa_rescore_cte(relation, series_key='series_key', position='series_position') -%}
    {%- if apoa_scores_materialization() == 'incremental' and apoa_is_incremental() -%}
    {%- set fingerprint = apoa_scoring_fingerprint() -%}
    {%- set margin = var('apoa_rescore_margin_runs') -%}
    rescore as (

        select
            touched.series_key,
            case
                when max(stored.scored_to) is null then 1
                else least(
                    min(touched.changed_from) - {{ margin }},
                    coalesce(min(episodes.first_position), min(touched.changed_from) - {{ margin }})
                )
            end as rescore_from
        from (
            select
                changed.{{ series_key }} as series_key,
                min(changed.{{ position }}) as changed_from
            from {{ relation }} as changed
            where changed.state_load_seq > (
                select coalesce(max(scored.state_load_seq), -1)
                from {{ this }} as scored
                where scored.scoring_fingerprint = '{{ fingerprint }}'
            )
            group by changed.{{ series_key }}
        ) as touched
        left join (
            select
                series_key,
                max(series_position) as scored_to
            from {{ this }}
            where scoring_fingerprint = '{{ fingerprint }}'
            group by series_key
        ) as stored
            on touched.series_key = stored.series_key
        left join (
            select
                series_key,
                min(series_position) as first_position,
                max(series_position) as last_position
            from {{ this }}
            where episode_id is not null
            group by series_key, episode_id
        ) as episodes
            on
                touched.series_key = episodes.series_key
                and episodes.last_position >= touched.changed_from - {{ margin }}
        group by touched.series_key

    ),
    {%- endif -%}
{%- endmacro %}

{#- The points a scorer reads: every point of a series it scores again, from
    `apoa_rescore_context_runs` (or the scorer's own `min_context`, if longer) + `level_window`
    before `rescore_from` (windows, baselines and the levels of the earliest of them reach
    back that far at most). Seasonal scorers also
    compare a point with the last `apoa_season_window_runs` points of its season bucket, which
    in a quiet bucket lie far back: those points and the `level_window` points before each
    (their trailing level) are read too. Needs `apoa_rescore_cte` in the same `with`. -#}
{% macro apoa_touched_series(relation, series_key='series_key', position='series_position',
                             level_window=0, season_bucket=none, min_context=0) -%}
    {%- if apoa_scores_materialization() == 'incremental' and apoa_is_incremental() -%}
        {%- set context = [var('apoa_rescore_context_runs'), min_context] | max -%}
        {%- set reach = context + level_window -%}
        (
            select all_points.*
            from {{ relation }} as all_points
            inner join rescore
                on all_points.{{ series_key }} = rescore.series_key
            where all_points.{{ position }} >= rescore.rescore_from - {{ reach }}
            {%- if season_bucket %}
            union all
            select distinct all_points.*
            from {{ relation }} as all_points
            inner join (
                select
                    bucket_points.{{ series_key }} as series_key,
                    bucket_points.{{ position }} as anchor_position,
                    rescore.rescore_from,
                    row_number() over (
                        partition by bucket_points.{{ series_key }}, bucket_points.{{ season_bucket }}
                        order by bucket_points.{{ position }} desc
                    ) as recency
                from {{ relation }} as bucket_points
                inner join rescore
                    on bucket_points.{{ series_key }} = rescore.series_key
                where bucket_points.{{ position }} < rescore.rescore_from - {{ context }}
            ) as anchors
                on
                    all_points.{{ series_key }} = anchors.series_key
                    and all_points.{{ position }}
                    between anchors.anchor_position - {{ level_window }} and anchors.anchor_position
            where
                anchors.recency <= {{ var('apoa_season_window_runs') }}
                and all_points.{{ position }} < anchors.rescore_from - {{ reach }}
            {%- endif %}
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- The rows a run writes for the series it touched: fresh scores from `rescore_from` on, and
    one marker row per touched series that carries its `rescore_from` (`is_tail_marker`;
    these two columns are not stored). The `series_tail` strategy below deletes each touched
    series' stored rows from there on and inserts the fresh ones: the head of a long series
    stays where it is. (Writing the whole series back made every batch rewrite a runner
    pool's scores from its first job.) -#}
{% macro apoa_rescored_rows(scored) -%}
    {%- if apoa_scores_materialization() == 'incremental' and apoa_is_incremental() -%}
        select
            fresh.*,
            rescore.rescore_from as rescored_from,
            false as is_tail_marker
        from {{ scored }} as fresh
        inner join rescore
            on fresh.series_key = rescore.series_key
        where fresh.series_position >= rescore.rescore_from
        union all by name
        select
            rescore.series_key,
            rescore.rescore_from as rescored_from,
            true as is_tail_marker
        from rescore
    {%- else -%}
        select * from {{ scored }}
    {%- endif -%}
{%- endmacro %}

{#- incremental_strategy='series_tail' (dbt looks up get_incremental_<strategy>_sql). The
    marker rows name every touched series even when its tail scored nothing, so a series
    that got shorter loses its stale rows too. -#}
{% macro get_incremental_series_tail_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
    delete from {{ target }} as stored
    using (
        select
            series_key,
            min(rescored_from) as rescored_from
        from {{ source }}
        group by series_key
    ) as tails
    where
        stored.series_key = tails.series_key
        and stored.series_position >= tails.rescored_from;

    insert into {{ target }} ({{ columns }})
    select {{ columns }}
    from {{ source }}
    where not is_tail_marker
{%- endmacro %}

{#- Every anomaly-engine var (dbt_project.yml, from apoa_scorer on): scores are only reused
    while all of them and the scorer's version are unchanged. tests/test_incremental_scoring.py
    checks the list against dbt_project.yml. -#}
{% macro apoa_scoring_vars() -%}
    {{- return([
        'apoa_scorer', 'apoa_rescore_margin_runs', 'apoa_rescore_context_runs',
        'apoa_zscore_sigmas', 'apoa_point_episode_min_runs',
        'apoa_point_episode_max_gap', 'apoa_failure_point_episode_min_runs',
        'apoa_failure_point_episode_max_gap', 'apoa_other_branches_min_branches',
        'apoa_other_branches_min_evidence', 'apoa_other_branches_min_default_runs',
        'apoa_season_block_hours', 'apoa_season_window_runs',
        'apoa_season_min_runs', 'apoa_season_min_gain', 'apoa_duration_window_runs',
        'apoa_duration_min_history', 'apoa_duration_persistence_runs',
        'apoa_duration_shift_sigmas', 'apoa_duration_band_width', 'apoa_duration_min_spread',
        'apoa_duration_min_ratio', 'apoa_duration_min_excess_seconds',
        'apoa_duration_accept_after_runs', 'apoa_duration_seasonality', 'apoa_queue_window_runs',
        'apoa_queue_min_history', 'apoa_queue_persistence_runs', 'apoa_queue_shift_sigmas',
        'apoa_queue_band_width', 'apoa_queue_min_spread', 'apoa_queue_min_ratio',
        'apoa_queue_min_excess_seconds', 'apoa_queue_accept_after_runs', 'apoa_queue_seasonality',
        'apoa_queue_log_offset_seconds', 'apoa_failure_window_runs', 'apoa_failure_baseline_runs',
        'apoa_failure_baseline_lag_runs', 'apoa_failure_min_baseline_runs',
        'apoa_failure_baseline_sds', 'apoa_failure_min_rate', 'apoa_failure_alternative_ratio',
        'apoa_failure_alternative_lift', 'apoa_failure_alpha', 'apoa_failure_point_alpha',
        'apoa_failure_min_events', 'apoa_failure_episode_max_gap', 'apoa_failure_max_stretch_runs',
        'apoa_flaky_min_cured_share', 'apoa_flaky_acceptable_rate', 'apoa_flaky_window_runs',
        'apoa_flaky_min_baseline_runs', 'apoa_flaky_alternative_ratio',
        'apoa_flaky_alternative_lift', 'apoa_flaky_alpha', 'apoa_flaky_point_alpha',
        'apoa_flaky_min_events', 'apoa_flaky_min_flips', 'apoa_flaky_episode_max_gap',
        'apoa_flaky_max_stretch_runs', 'apoa_broken_min_runs', 'apoa_broken_prior_runs',
        'apoa_broken_min_prior_runs', 'apoa_broken_min_rate', 'apoa_broken_alpha',
        'apoa_broken_min_share', 'apoa_signature_min_history', 'apoa_signature_min_occurrences',
        'apoa_signature_max_other_jobs', 'apoa_signature_episode_max_gap',
        'apoa_resource_window_runs', 'apoa_resource_min_history', 'apoa_resource_sigmas',
        'apoa_resource_min_spread', 'apoa_resource_min_ratio', 'apoa_resource_memory_limit_share',
        'apoa_resource_episode_min_runs', 'apoa_resource_episode_max_gap',
        'apoa_security_min_history_runs', 'apoa_security_min_history_days',
        'apoa_security_deploy_patterns', 'apoa_security_secret_log_patterns',
        'apoa_security_episode_hours', 'apoa_metric_season_days', 'apoa_metric_season_minutes',
        'apoa_metric_level_hours', 'apoa_metric_min_level_points', 'apoa_metric_min_history_days',
        'apoa_metric_band_width', 'apoa_metric_min_spread', 'apoa_metric_episode_min_points',
        'apoa_metric_episode_max_gap'
    ]) -}}
{%- endmacro %}

{#- A fingerprint of how scores were made: a change of scorer or of any of its vars re-scores
    every series on the next run. -#}
{% macro apoa_scoring_fingerprint() -%}
    {%- set parts = [var('apoa_scorer'), scorer_version()] -%}
    {%- for name in apoa_scoring_vars() -%}
        {%- do parts.append(name ~ '=' ~ (var(name, none) | string)) -%}
    {%- endfor -%}
    {{- return(local_md5(parts | join('|'))) -}}
{%- endmacro %}

{#- The column the series scorers store: locally the fingerprint; on BigQuery, which rebuilds
    them in full, null (so every scorer's SQL there stays its own, token for token). -#}
{% macro apoa_scoring_fingerprint_sql() -%}
    {%- if apoa_scores_materialization() == 'incremental' -%}
        '{{ apoa_scoring_fingerprint() }}'
    {%- else -%}
        cast(null as {{ dbt.type_string() }})
    {%- endif -%}
{%- endmacro %}

{#- apoa_touched_series for a seasonal level-shift scorer (duration, queue), its windows and
    reach read from the scorer's vars (`apoa_<prefix>_*`). -#}
{% macro apoa_touched_level_series(relation, prefix) -%}
    {{- apoa_touched_series(
        relation,
        level_window=var('apoa_' ~ prefix ~ '_window_runs'),
        season_bucket='season_bucket',
        min_context=var('apoa_' ~ prefix ~ '_window_runs')
        + 2 * var('apoa_' ~ prefix ~ '_accept_after_runs')
        + var('apoa_' ~ prefix ~ '_persistence_runs'),
    ) -}}
{%- endmacro %}
