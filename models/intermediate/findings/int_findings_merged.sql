{#-
    One row per finding: scorer episodes, with the episodes of one job that overlap in time
    merged, across its branch classes: a regression seen on main and on pull requests is one
    regression, a run of red builds one thing to act on. The finding is named by the most
    specific kind among its episodes (default_branch_broken, then flaky_job, then
    failure_rate; durations are one kind), as the default branch saw it when it did; its first
    run is the earliest of its episodes'. finding_id stays the id of the episode detected
    first, so the finding keeps its identity when a later detection renames it; revision
    counts the names it has had (1; 2 when failure_rate became default_branch_broken, ...).
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
        failure_signature,
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
        evidence_items,
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
        -- a job's episodes merge across branch classes; a runner pool's and a new signature's
        -- are their own
        case
            when kind = 'queue_spike' then series_key
            -- one measure of a job, one metric series, one security signal
            when kind in ('resource_misuse', 'metric_anomaly') or kind like 'security%'
                then series_key
            when kind = 'new_failure_signature' then concat(job_key, '|', failure_signature)
            else job_key
        end as cluster_key,
        case kind
            when 'default_branch_broken' then 3
            when 'flaky_job' then 2
            else 1
        end as precedence,
        case when is_default_branch then 0 when is_default_branch is null then 1 else 2 end
            as branch_rank
    from episodes

),

-- episodes of a family and job (or pool) that overlap in time form one cluster
ordered as (

    select
        *,
        max(last_scored_at) over (
            partition by family, cluster_key
            order by started_at, detected_at, episode_id
            rows between unbounded preceding and 1 preceding
        ) as previous_ended_at
    from families

),

clustered as (

    select
        *,
        sum(
            case when previous_ended_at is null or started_at > previous_ended_at then 1 else 0 end
        ) over (
            partition by family, cluster_key
            order by started_at, detected_at, episode_id
            rows between unbounded preceding and current row
        ) as cluster_number
    from ordered

),

-- a broken streak names the finding when it holds most of its failures; a streak inside a
-- long stretch of intermittent failures is part of a failure rate. (Failures, not time: a
-- stray ordinary failure weeks before a break stretches the time span, not the count.)
cluster_failures as (

    select
        *,
        max(case when kind != 'default_branch_broken' then evidence_items end) over (
            partition by family, cluster_key, cluster_number
        ) as other_episodes_failures
    from clustered

),

named as (

    select
        *,
        case
            when
                kind = 'default_branch_broken'
                and evidence_items
                < {{ var('apoa_broken_min_share') }} * other_episodes_failures
                then 0
            else precedence
        end as name_precedence
    from cluster_failures

),

-- a finding named by a break starts where the streak starts: the failure-rate episode
-- around it may begin at an ordinary failure long before
named_clusters as (

    select
        *,
        max(name_precedence) over (partition by family, cluster_key, cluster_number) = 3
        and name_precedence < 3 as is_outside_the_break
    from named

),

ranked as (

    select
        *,
        -- the name: the most specific kind, on the default branch when it saw it too
        row_number() over (
            partition by family, cluster_key, cluster_number
            order by name_precedence desc, branch_rank asc, detected_at asc, episode_id asc
        ) as lead_rank,
        row_number() over (
            partition by family, cluster_key, cluster_number
            order by detected_at asc, episode_id asc
        ) as detection_rank,
        row_number() over (
            partition by family, cluster_key, cluster_number
            order by
                case when is_outside_the_break then 1 else 0 end asc,
                started_at asc,
                branch_rank asc,
                episode_id asc
        ) as start_rank,
        row_number() over (
            partition by family, cluster_key, cluster_number
            order by last_scored_at desc, branch_rank asc, episode_id asc
        ) as end_rank
    from named_clusters

),

merged as (

    select
        max(case when detection_rank = 1 then episode_id end) as finding_id,
        max(case when lead_rank = 1 then kind end) as kind,
        family,
        max(case when lead_rank = 1 then series_key end) as series_key,
        max(case when lead_rank = 1 then job_key end) as job_key,
        max(case when lead_rank = 1 then is_default_branch end) as is_default_branch,
        max(runner_label) as runner_label,
        max(failure_signature) as failure_signature,
        max(case when lead_rank = 1 then first_series_position end) as first_series_position,
        max(case when lead_rank = 1 then last_series_position end) as last_series_position,
        max(case when start_rank = 1 then first_job_run_id end) as first_job_run_id,
        max(case when lead_rank = 1 then first_job_run_id end) as lead_first_job_run_id,
        max(case when end_rank = 1 then last_job_run_id end) as last_job_run_id,
        max(case when start_rank = 1 then last_good_job_run_id end) as last_good_job_run_id,
        max(case when start_rank = 1 then started_at end) as started_at,
        case
            when max(case when lead_rank = 1 then resolution end) = 'accepted'
                then max(case when lead_rank = 1 then last_scored_at end)
            else max(last_scored_at)
        end as last_scored_at,
        min(detected_at) as detected_at,
        -- open while any episode is, unless the default branch accepted the new level
        case
            when max(case when lead_rank = 1 then resolution end) = 'accepted' then 'resolved'
            else min(status)
        end as status,
        case
            when max(case when lead_rank = 1 then resolution end) = 'accepted' then 'accepted'
            when min(status) = 'resolved' then max(case when end_rank = 1 then resolution end)
        end as resolution,
        count(*) as revision,
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
    group by family, cluster_key, cluster_number

)

select * from merged
