with

job_runs_with_baselines as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        completed_at,
        duration_seconds,
        duration_sequence,
        duration_history_runs,
        duration_log_median,
        duration_log_mad,
        failure_sequence,
        failure_window_runs,
        failure_window_failures,
        failure_baseline_runs,
        failure_baseline_failures
    from {{ ref('int_job_runs_with_baselines') }}

),

duration_regression_scores as (

    {{ duration_regression_scores('job_runs_with_baselines') }}

),

failure_rate_scores as (

    {{ failure_rate_scores('job_runs_with_baselines') }}

),

unioned as (

    select * from duration_regression_scores
    union all
    select * from failure_rate_scores

),

final as (

    select
        {{ surrogate_key(['kind', 'job_run_id', 'scorer', 'scorer_version']) }} as score_id,
        cast(job_run_id as {{ dbt.type_bigint() }}) as job_run_id,
        cast(job_key as {{ dbt.type_string() }}) as job_key,
        cast(is_default_branch as {{ dbt.type_boolean() }}) as is_default_branch,
        cast(series_position as {{ dbt.type_bigint() }}) as series_position,
        cast(kind as {{ dbt.type_string() }}) as kind,
        cast(scored_at as {{ dbt.type_timestamp() }}) as scored_at,
        cast(observed_value as {{ type_double() }}) as observed_value,
        cast(expected_value as {{ type_double() }}) as expected_value,
        cast(lower_bound as {{ type_double() }}) as lower_bound,
        cast(upper_bound as {{ type_double() }}) as upper_bound,
        cast(is_anomaly as {{ dbt.type_boolean() }}) as is_anomaly,
        cast(anomaly_probability as {{ type_double() }}) as anomaly_probability,
        cast(history_runs as {{ dbt.type_bigint() }}) as history_runs,
        cast(scorer as {{ dbt.type_string() }}) as scorer,
        cast(scorer_version as {{ dbt.type_string() }}) as scorer_version
    from unioned

)

select * from final
