with

job_run_scores as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        kind,
        series_position,
        scored_at,
        observed_value,
        expected_value,
        lower_bound,
        upper_bound,
        is_anomaly,
        scorer,
        scorer_version
    from {{ ref('ml_job_run_scores') }}

),

series_ends as (

    select
        kind,
        job_key,
        is_default_branch,
        max(series_position) as last_scored_position
    from job_run_scores
    group by kind, job_key, is_default_branch

),

anomalies as (

    select
        *,
        -- how many anomalous runs make an episode, how many normal runs may sit inside one
        case kind
            when 'duration_regression' then {{ var('apoa_duration_episode_min_runs', 3) }}
            else {{ var('apoa_failure_episode_min_runs', 1) }}
        end as episode_min_runs,
        case kind
            when 'duration_regression' then {{ var('apoa_duration_episode_max_gap', 1) }}
            else {{ var('apoa_failure_episode_max_gap', 0) }}
        end as episode_max_gap,
        series_position - lag(series_position) over (
            partition by kind, job_key, is_default_branch
            order by series_position
        ) as positions_since_previous_anomaly
    from job_run_scores
    where is_anomaly

),

-- gaps and islands: a new island starts when more normal runs than allowed sit between anomalies
islands as (

    select
        *,
        sum(
            case
                when
                    positions_since_previous_anomaly is null
                    or positions_since_previous_anomaly > episode_max_gap + 1
                    then 1
                else 0
            end
        ) over (
            partition by kind, job_key, is_default_branch
            order by series_position
            rows between unbounded preceding and current row
        ) as island_number
    from anomalies

),

numbered as (

    select
        *,
        row_number() over (
            partition by kind, job_key, is_default_branch, island_number
            order by series_position asc
        ) as anomaly_number,
        row_number() over (
            partition by kind, job_key, is_default_branch, island_number
            order by series_position desc
        ) as anomaly_number_from_last
    from islands

),

episodes as (

    select
        kind,
        job_key,
        is_default_branch,
        island_number,
        episode_max_gap,
        count(*) as anomalous_runs,
        min(series_position) as first_series_position,
        max(series_position) as last_series_position,
        max(case when anomaly_number = 1 then job_run_id end) as first_job_run_id,
        max(case when anomaly_number_from_last = 1 then job_run_id end) as last_job_run_id,
        min(scored_at) as started_at,
        max(scored_at) as last_anomaly_at,
        -- the run that made it an episode: the min_runs-th anomalous one
        max(case when anomaly_number = episode_min_runs then scored_at end) as detected_at,
        {{ median('observed_value') }} as observed_value,
        max(observed_value) as peak_observed_value,
        -- the band as it stood before the episode: at its first anomalous run
        max(case when anomaly_number = 1 then expected_value end) as expected_value,
        max(case when anomaly_number = 1 then lower_bound end) as expected_lower,
        max(case when anomaly_number = 1 then upper_bound end) as expected_upper,
        max(scorer) as scorer,
        max(scorer_version) as scorer_version
    from numbered
    group by kind, job_key, is_default_branch, island_number, episode_min_runs, episode_max_gap
    having count(*) >= episode_min_runs

),

with_status as (

    select
        {{ surrogate_key([
            'episodes.kind', 'episodes.job_key', 'episodes.is_default_branch',
            'episodes.first_job_run_id',
        ]) }} as episode_id,
        episodes.kind,
        episodes.job_key,
        episodes.is_default_branch,
        episodes.first_job_run_id,
        episodes.last_job_run_id,
        episodes.first_series_position,
        episodes.last_series_position,
        episodes.anomalous_runs,
        episodes.started_at,
        episodes.detected_at,
        -- open while the job's latest scored run could still belong to the episode
        case
            when series_ends.last_scored_position - episodes.last_series_position
                <= episodes.episode_max_gap
                then 'open'
            else 'resolved'
        end as status,
        episodes.last_anomaly_at,
        episodes.observed_value,
        episodes.peak_observed_value,
        episodes.expected_value,
        episodes.expected_lower,
        episodes.expected_upper,
        episodes.scorer,
        episodes.scorer_version
    from episodes
    inner join series_ends
        on
            episodes.kind = series_ends.kind
            and episodes.job_key = series_ends.job_key
            and episodes.is_default_branch = series_ends.is_default_branch

)

select * from with_status
