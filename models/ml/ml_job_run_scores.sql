{#-
    THE SCORING CONTRACT: every scorer's scores of every kind, in one shape (enforced by the
    model contract in _ml__models.yml). Findings read only this.

    Locally a view: the scorer tables below it are the stored scores, and copying every score
    of the history into one more table on every micro-batch made each batch cost the history.
    On BigQuery a table, which dashboards query without re-reading ten tables.
-#}
{{ config(materialized='table' if target.type == 'bigquery' else 'view') }}
{%- set text = dbt.type_string() -%}
{%- set kinds = [
    'duration_regression', 'queue_spike', 'failure_rate', 'default_branch_broken', 'flaky_job',
    'new_failure_signature',
] -%}
{#- part 2: resource_misuse, metric_anomaly (no job run: a Cloud Monitoring series' points) and
    the security kinds, which ml_security_signal_scores writes under their own names. -#}
{%- set kinds = kinds + ['resource_misuse', 'metric_anomaly', 'security_signal'] -%}

with

unioned as (

    {% for kind in kinds -%}
        select
            job_run_id,
            kind,
            series_key,
            job_key,
            is_default_branch,
            runner_label,
            failure_signature,
            series_position,
            scored_at,
            known_at,
            observed_value,
            expected_value,
            lower_bound,
            upper_bound,
            is_anomaly,
            anomaly_probability,
            history_runs,
            episode_id,
            episode_detected_at,
            episode_status,
            episode_resolution
        from {{ ref('ml_' ~ kind ~ '_scores') }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        {# job_run_id names the item; a metric point (no job run) and a resource peak (one per
           measure) add their series and position, so the id of a job-run item is unchanged #}
        {{ surrogate_key([
            'kind',
            "concat(coalesce(cast(job_run_id as " ~ text ~ "), ''), case when kind in ('resource_misuse', 'metric_anomaly') then concat('|', series_key, '@', cast(series_position as " ~ text ~ ")) else '' end)",
            "'" ~ var('apoa_scorer') ~ "'", "'" ~ scorer_version() ~ "'",
        ]) }}
            as score_id,
        cast(job_run_id as {{ dbt.type_bigint() }}) as job_run_id,
        cast(kind as {{ text }}) as kind,
        cast(series_key as {{ text }}) as series_key,
        cast(job_key as {{ text }}) as job_key,
        cast(is_default_branch as {{ dbt.type_boolean() }}) as is_default_branch,
        cast(runner_label as {{ text }}) as runner_label,
        cast(failure_signature as {{ text }}) as failure_signature,
        cast(series_position as {{ dbt.type_bigint() }}) as series_position,
        cast(scored_at as {{ dbt.type_timestamp() }}) as scored_at,
        cast(known_at as {{ dbt.type_timestamp() }}) as known_at,
        cast(observed_value as {{ type_double() }}) as observed_value,
        cast(expected_value as {{ type_double() }}) as expected_value,
        cast(lower_bound as {{ type_double() }}) as lower_bound,
        cast(upper_bound as {{ type_double() }}) as upper_bound,
        cast(is_anomaly as {{ dbt.type_boolean() }}) as is_anomaly,
        cast(anomaly_probability as {{ type_double() }}) as anomaly_probability,
        cast(history_runs as {{ dbt.type_bigint() }}) as history_runs,
        cast(episode_id as {{ text }}) as episode_id,
        cast(episode_detected_at as {{ dbt.type_timestamp() }}) as episode_detected_at,
        cast(case when episode_id is not null then episode_status end as {{ text }}) as episode_status,
        cast(episode_resolution as {{ text }}) as episode_resolution,
        cast('{{ var("apoa_scorer") }}' as {{ text }}) as scorer,
        cast('{{ scorer_version() }}' as {{ text }}) as scorer_version
    from unioned

)

select * from final
