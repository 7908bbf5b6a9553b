{#-
    Scoring only the series that changed. A scorer's windows, baselines and episodes look at
    one series at a time, so the scores of a series no new run reached are already right:
    locally the series scorers are incremental tables that re-score, from its first run, every
    series holding a job run whose state is newer than any they scored (`state_load_seq`)
    with today's scorer and vars (`scoring_fingerprint`), and replace that series' rows (`delete+insert` on `series_key`). A micro-batch then costs
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
                    select coalesce(max(scored.state_load_seq), -1)
                    from {{ this }} as scored
                    where scored.scoring_fingerprint = '{{ apoa_scoring_fingerprint() }}'
                )
            )
        )
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Every anomaly-engine var (dbt_project.yml, from apoa_scorer on): scores are only reused
    while all of them and the scorer's version are unchanged. tests/test_incremental_scoring.py
    checks the list against dbt_project.yml. -#}
{% macro apoa_scoring_vars() -%}
    {{- return([
        'apoa_scorer', 'apoa_zscore_sigmas', 'apoa_point_episode_min_runs',
        'apoa_point_episode_max_gap', 'apoa_failure_point_episode_min_runs',
        'apoa_failure_point_episode_max_gap', 'apoa_other_branches_min_branches',
        'apoa_other_branches_min_evidence', 'apoa_season_block_hours', 'apoa_season_window_runs',
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
