{#-
    metric_anomaly scores, a rule shared by every scorer: each point of a Cloud Monitoring
    series (int_metric_series) against a band that follows the series' daily cycle and its
    slow drift, both learned from earlier points only.
    1. seasonal value: the median of the points at the same time of day (within
       `apoa_metric_season_minutes`) on the previous `apoa_metric_season_days` days;
    2. level: the median residual (point minus its seasonal value) over the previous
       `apoa_metric_level_hours` hours, which follows a slow drift while a short excursion
       moves it little; spread: their interquartile range / 1.349;
    3. band: seasonal + level ± max(`apoa_metric_band_width` × spread, `apoa_metric_min_spread`
       × |expected|); a point outside it, either way, is anomalous (a CPU that drops to 0 is
       as much news as one stuck at 100%). Scored once the series has
       `apoa_metric_min_history_days` days of history;
    4. episodes: `apoa_metric_episode_min_points` anomalous points with at most
       `apoa_metric_episode_max_gap` normal ones between (macros/scoring/point_episodes.sql).
-#}
{%- set season_days = var('apoa_metric_season_days') -%}
{%- set season_minutes = var('apoa_metric_season_minutes') -%}
{%- set level_hours = var('apoa_metric_level_hours') -%}
{#- the windows are spans of time: band joins on seconds since the epoch (macros/math/band_join.sql) -#}
{%- set season_seconds = (season_days * 24 + 1) * 3600 -%}
{%- set level_seconds = level_hours * 3600 -%}

with

series as (

    select
        series_key,
        series_position,
        minute_of_day,
        observed_value,
        scored_at,
        known_at,
        {{ seconds_between("timestamp '1970-01-01 00:00:00'", 'scored_at') }} as epoch_second
    from {{ ref('int_metric_series') }}

),

series_starts as (

    select
        series_key,
        min(scored_at) as first_at
    from series
    group by series_key

),

-- 1. the same time of day on earlier days (never the last 20 hours: those are "now")
seasonal as (

    select
        current_points.series_key,
        current_points.series_position,
        {{ median('history.observed_value') }} as seasonal_value,
        count(*) as seasonal_points
    from series as current_points
    inner join {{ apoa_band_rows('series', 'epoch_second', season_seconds) }} as history
        on
            current_points.series_key = history.series_key
            and history.band_block
            = {{ apoa_band_block('current_points.epoch_second', -season_seconds, season_seconds) }}
            and {{ seconds_between('history.scored_at', 'current_points.scored_at') }}
            between 20 * 3600 and {{ season_seconds }}
            and least(
                abs(current_points.minute_of_day - history.minute_of_day),
                1440 - abs(current_points.minute_of_day - history.minute_of_day)
            ) <= {{ season_minutes }}
    group by current_points.series_key, current_points.series_position

),

residuals as (

    select
        series.series_key,
        series.series_position,
        series.scored_at,
        series.epoch_second,
        series.observed_value,
        seasonal.seasonal_value,
        series.observed_value - seasonal.seasonal_value as residual
    from series
    inner join seasonal
        on
            series.series_key = seasonal.series_key
            and series.series_position = seasonal.series_position

),

-- 2. the recent level of the residuals, from the points before this one
levels as (

    select
        current_points.series_key,
        current_points.series_position,
        {{ median('history.residual') }} as level,
        ({{ percentile('history.residual', 0.75) }} - {{ percentile('history.residual', 0.25) }})
        / 1.349 as spread,
        count(*) as level_points
    from residuals as current_points
    inner join {{ apoa_band_rows('residuals', 'epoch_second', level_seconds) }} as history
        on
            current_points.series_key = history.series_key
            and history.band_block = {{ apoa_band_block('current_points.epoch_second', -level_seconds, level_seconds) }}
            and {{ seconds_between('history.scored_at', 'current_points.scored_at') }}
            <= {{ level_seconds }}
            and current_points.series_position > history.series_position
    group by current_points.series_key, current_points.series_position

),

banded as (

    select
        series.series_key,
        series.series_position,
        series.scored_at,
        series.known_at,
        series.observed_value,
        residuals.seasonal_value + levels.level as expected_value,
        greatest(
            {{ var('apoa_metric_band_width') }} * levels.spread,
            {{ var('apoa_metric_min_spread') }} * abs(residuals.seasonal_value + levels.level),
            1e-9
        ) as half_width,
        levels.level_points as history_runs
    from series
    inner join series_starts
        on series.series_key = series_starts.series_key
    inner join residuals
        on
            series.series_key = residuals.series_key
            and series.series_position = residuals.series_position
    inner join levels
        on
            series.series_key = levels.series_key
            and series.series_position = levels.series_position
    where
        {{ seconds_between('series_starts.first_at', 'series.scored_at') }}
        >= {{ var('apoa_metric_min_history_days') * 86400 }}
        and levels.level_points >= {{ var('apoa_metric_min_level_points') }}

),

scored as (

    select
        cast(null as {{ dbt.type_bigint() }}) as job_run_id,
        series_key,
        series_position,
        'metric_anomaly' as kind,
        scored_at,
        known_at,
        observed_value,
        expected_value,
        expected_value - half_width as lower_bound,
        expected_value + half_width as upper_bound,
        abs(observed_value - expected_value) > half_width as is_anomaly,
        -- 2 Phi(d) - 1, d = the distance in band half-widths: 0.68 on the band's edge
        {{ normal_cdf('abs(observed_value - expected_value) / half_width') }} * 2 - 1
            as anomaly_probability,
        history_runs,
        cast(null as {{ dbt.type_string() }}) as failure_signature
    from banded

),

{{ point_anomaly_episode_ctes(
    'metric_anomaly', 'scored', var('apoa_metric_episode_min_points'),
    var('apoa_metric_episode_max_gap'), item_key='scored_at'
) }},

described as (

    select
        scores.*,
        cast(null as {{ dbt.type_string() }}) as job_key,
        cast(null as {{ dbt.type_boolean() }}) as is_default_branch,
        cast(null as {{ dbt.type_string() }}) as runner_label
    from scores

)

select * from described
