{{ config(enabled=apoa_bqml_enabled(['bqml_arima'])) }}
{#-
    The regular daily series BigQuery ML's ARIMA_PLUS models train on: per kind and series,
    one row per UTC day from the series' first day to its last, with the day's p50 duration
    (duration_regression) or share of runs with a failed attempt (failure_rate). A day
    without runs keeps a null value, which ARIMA_PLUS interpolates.
-#}
with

duration_series as (

    select
        series_key,
        observed_value,
        known_at
    from {{ ref('int_duration_series') }}

),

failure_series as (

    select
        series_key,
        has_failure,
        known_at
    from {{ ref('int_failure_series') }}

),

observed_days as (

    select
        'duration_regression' as kind,
        series_key,
        timestamp_trunc(known_at, day) as series_day,
        {{ median('observed_value') }} as observed_value,
        count(*) as items
    from duration_series
    group by series_key, series_day

    union all

    select
        'failure_rate' as kind,
        series_key,
        timestamp_trunc(known_at, day) as series_day,
        avg(case when has_failure then 1.0 else 0.0 end) as observed_value,
        count(*) as items
    from failure_series
    group by series_key, series_day

),

series_spans as (

    select
        kind,
        series_key,
        min(series_day) as first_day,
        max(series_day) as last_day
    from observed_days
    group by kind, series_key
    having count(*) >= {{ var('apoa_bqml_arima_min_days', 14) }}

),

spine as (

    select
        series_spans.kind,
        series_spans.series_key,
        timestamp(series_date) as series_day
    from series_spans
    cross join
        unnest(generate_date_array(date(series_spans.first_day), date(series_spans.last_day)))
            as series_date

),

daily as (

    select
        spine.kind,
        spine.series_key,
        spine.series_day,
        observed_days.observed_value,
        coalesce(observed_days.items, 0) as items
    from spine
    left join observed_days
        on
            spine.kind = observed_days.kind
            and spine.series_key = observed_days.series_key
            and spine.series_day = observed_days.series_day

)

select * from daily
