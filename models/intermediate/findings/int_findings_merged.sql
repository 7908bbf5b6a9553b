{#-
    One row per finding: scorer episodes, with the failure episodes of one job series that
    overlap in time merged into one finding. A run of red builds is one thing to act on: it
    is named by the most specific kind among the merged episodes (default_branch_broken, then
    flaky_job, then failure_rate). finding_id stays the id of the episode detected first, so
    the finding keeps its identity when a later detection renames it; revision counts the
    names it has had (1, 2 when failure_rate became default_branch_broken, ...).
-#}
with

episodes as (

    select
        episode_id,
        kind,
        series_key,
        job_key,
        is_default_branch,
        runner_label,
        first_series_position,
        last_series_position,
        first_job_run_id,
        last_job_run_id,
        last_good_job_run_id,
        started_at,
        last_scored_at,
        detected_at,
        status,
        resolution,
        episode_runs,
        anomalous_runs,
        observed_value,
        peak_observed_value,
        expected_value,
        expected_lower,
        expected_upper,
        baseline_runs,
        scorer,
        scorer_version
    from {{ ref('int_finding_episodes') }}

),

families as (

    select
        *,
        case
            when kind in ('failure_rate', 'flaky_job', 'default_branch_broken') then 'failure'
            else kind
        end as family,
        case kind
            when 'default_branch_broken' then 3
            when 'flaky_job' then 2
            else 1
        end as precedence
    from episodes

),

-- overlapping episodes of a family and series form one cluster (gaps and islands on spans)
ordered as (

    select
        *,
        max(last_series_position) over (
            partition by family, series_key
            order by first_series_position, detected_at, episode_id
            rows between unbounded preceding and 1 preceding
        ) as previous_end_position
    from families

),

clustered as (

    select
        *,
        sum(
            case
                when previous_end_position is null or first_series_position > previous_end_position
                    then 1
                else 0
            end
        ) over (
            partition by family, series_key
            order by first_series_position, detected_at, episode_id
            rows between unbounded preceding and current row
        ) as cluster_number
    from ordered

),

ranked as (

    select
        *,
        row_number() over (
            partition by family, series_key, cluster_number
            order by precedence desc, detected_at asc, episode_id asc
        ) as lead_rank,
        row_number() over (
            partition by family, series_key, cluster_number
            order by detected_at asc, episode_id asc
        ) as detection_rank,
        row_number() over (
            partition by family, series_key, cluster_number
            order by first_series_position asc, detected_at asc
        ) as start_rank,
        row_number() over (
            partition by family, series_key, cluster_number
            order by last_series_position desc, detected_at asc
        ) as end_rank,
        -- the name the finding had once this episode was detected
        max(precedence) over (
            partition by family, series_key, cluster_number
            order by detected_at asc, episode_id asc
            rows between unbounded preceding and current row
        ) as precedence_so_far
    from clustered

),

merged as (

    select
        max(case when detection_rank = 1 then episode_id end) as finding_id,
        max(case when lead_rank = 1 then kind end) as kind,
        family,
        series_key,
        max(case when lead_rank = 1 then job_key end) as job_key,
        max(case when lead_rank = 1 then is_default_branch end) as is_default_branch,
        max(runner_label) as runner_label,
        min(first_series_position) as first_series_position,
        max(last_series_position) as last_series_position,
        max(case when start_rank = 1 then first_job_run_id end) as first_job_run_id,
        max(case when end_rank = 1 then last_job_run_id end) as last_job_run_id,
        max(case when start_rank = 1 then last_good_job_run_id end) as last_good_job_run_id,
        min(started_at) as started_at,
        max(last_scored_at) as last_scored_at,
        min(detected_at) as detected_at,
        min(status) as status,
        max(case when lead_rank = 1 then resolution end) as resolution,
        count(distinct precedence_so_far) as revision,
        max(case when lead_rank = 1 then episode_runs end) as episode_runs,
        max(case when lead_rank = 1 then anomalous_runs end) as anomalous_runs,
        max(case when lead_rank = 1 then observed_value end) as observed_value,
        max(case when lead_rank = 1 then peak_observed_value end) as peak_observed_value,
        max(case when lead_rank = 1 then expected_value end) as expected_value,
        max(case when lead_rank = 1 then expected_lower end) as expected_lower,
        max(case when lead_rank = 1 then expected_upper end) as expected_upper,
        max(case when lead_rank = 1 then baseline_runs end) as baseline_runs,
        max(scorer) as scorer,
        max(scorer_version) as scorer_version
    from ranked
    group by family, series_key, cluster_number

)

select * from merged
