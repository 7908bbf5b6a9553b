{{ config(
    enabled=apoa_bqml_enabled(['bqml_arima']),
    materialized='bqml_model',
    bqml_options={
        'model_type': 'arima_plus',
        'time_series_timestamp_col': 'series_day',
        'time_series_data_col': 'observed_value',
        'time_series_id_col': 'series_key',
        'data_frequency': 'daily',
        'auto_arima': true,
        'decompose_time_series': true,
        'clean_spikes_and_dips': true,
        'adjust_step_changes': true,
    },
) }}
{#- ARIMA_PLUS over the daily duration_regression series of every job (bqml_job_daily_series). -#}
with

daily as (

    select
        series_key,
        series_day,
        observed_value
    from {{ ref('bqml_job_daily_series') }}
    where kind = 'duration_regression'

)

select * from daily
