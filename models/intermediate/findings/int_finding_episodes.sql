{#-
    One row per scorer episode (ml_job_run_scores.episode_id): its first and last scored
    item, when the scorer could first tell, its state, and the values findings describe it
    with. An episode on non-default branches whose evidence (its anomalous points, or its
    failed runs) comes from a single branch — or all but one item of it — is that branch's
    own business (a pull request that is slower or red) and is left out. A failure_rate
    episode whose re-run failures were often cured by the re-run (at least
    `apoa_flaky_min_cured_share` of them, and `apoa_flaky_min_events` runs) is named
    flaky_job: the failures are flakes, not breakage.

    Locally a table: the finding views read it several times, and each read as a view went
    through every score of the history again (0.45 -> 0.25 s for fct_findings and this at
    105k job runs). A view on BigQuery, like the series.
-#}
{{ config(materialized='view' if target.type == 'bigquery' else 'table') }}

with

job_run_scores as (

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
        observed_value,
        expected_value,
        lower_bound,
        upper_bound,
        is_anomaly,
        history_runs,
        episode_id,
        episode_detected_at,
        episode_status,
        episode_resolution,
        scorer,
        scorer_version
    from {{ ref('ml_job_run_scores') }}
    where episode_id is not null

),

-- the job runs of episodes only (joining every job run of the history cost 0.09 s at 1M)
job_runs as (

    select
        job_run_id,
        head_branch,
        is_failure
    from {{ ref('fct_job_runs') }}
    where job_run_id in (select job_run_scores.job_run_id from job_run_scores)

),

episode_items as (

    select
        job_run_scores.*,
        job_runs.head_branch,
        -- the items that show the change: failed runs for failure kinds, else anomalous points
        case
            when job_run_scores.kind in ('failure_rate', 'default_branch_broken')
                then coalesce(job_runs.is_failure, false)
            when job_run_scores.kind = 'new_failure_signature' then true
            else job_run_scores.is_anomaly
        end as is_evidence,
        row_number() over (
            partition by job_run_scores.episode_id
            order by job_run_scores.series_position asc
        ) as item_number,
        row_number() over (
            partition by job_run_scores.episode_id
            order by job_run_scores.series_position desc
        ) as item_number_from_last
    from job_run_scores
    left join job_runs
        on job_run_scores.job_run_id = job_runs.job_run_id

),

episodes as (

    select
        episode_id,
        kind,
        series_key,
        max(case when item_number = 1 then job_key end) as job_key,
        -- queue pools, flaky jobs and the part-2 kinds are not series of one branch class
        case
            when
                kind not in ('queue_spike', 'flaky_job', 'resource_misuse', 'metric_anomaly')
                and kind not like 'security%'
                then max(case when item_number = 1 then is_default_branch end)
        end as is_default_branch,
        max(runner_label) as runner_label,
        max(failure_signature) as failure_signature,
        min(series_position) as first_series_position,
        max(series_position) as last_series_position,
        max(case when item_number = 1 then job_run_id end) as first_job_run_id,
        max(case when item_number_from_last = 1 then job_run_id end) as last_job_run_id,
        min(scored_at) as started_at,
        max(scored_at) as last_scored_at,
        max(case when is_evidence then scored_at end) as last_evidence_at,
        max(episode_detected_at) as detected_at,
        max(episode_status) as status,
        max(episode_resolution) as resolution,
        count(*) as episode_runs,
        sum(case when is_anomaly then 1 else 0 end) as anomalous_runs,
        count(distinct case when is_evidence then head_branch end) as branches,
        sum(case when is_evidence then 1 else 0 end) as evidence_items,
        {{ median('observed_value') }} as observed_value,
        max(observed_value) as peak_observed_value,
        -- the band as it stood when the episode began
        max(case when item_number = 1 then expected_value end) as expected_value,
        max(case when item_number = 1 then lower_bound end) as expected_lower,
        max(case when item_number = 1 then upper_bound end) as expected_upper,
        max(case when item_number = 1 then history_runs end) as baseline_runs,
        max(scorer) as scorer,
        max(scorer_version) as scorer_version
    from episode_items
    group by episode_id, kind, series_key

),

-- the item right before the episode: the last good run, the start of the commit range
previous_items as (

    select
        episodes.episode_id,
        scores.job_run_id as last_good_job_run_id
    from episodes
    -- four columns of every score, not the twenty episode_items reads
    inner join {{ ref('ml_job_run_scores') }} as scores
        on
            episodes.kind = scores.kind
            and episodes.series_key = scores.series_key
            and scores.series_position = episodes.first_series_position - 1

),

failure_series as (

    select
        series_key,
        series_position,
        attempts,
        has_failure,
        is_flaky
    from {{ ref('int_failure_series') }}

),

-- failure_rate episodes: of the failed runs someone re-ran, how many the re-run cured
episode_failures as (

    select
        episodes.episode_id,
        sum(
            case when failure_series.has_failure and failure_series.attempts > 1 then 1 else 0 end
        ) as rerun_failed_runs,
        sum(case when failure_series.is_flaky then 1 else 0 end) as flaky_runs
    from episodes
    inner join failure_series
        on
            episodes.series_key = failure_series.series_key
            and failure_series.series_position
            between episodes.first_series_position and episodes.last_series_position
    where episodes.kind = 'failure_rate'
    group by episodes.episode_id

),

-- the default branch's runs while a non-default-branch episode showed its change (from its
-- first item to its last evidence), and whether that job had run on it before: a change on
-- pull requests that the default branch outlived within a few runs (a bad commit reverted
-- after two) is not a sustained change of the job
default_branch_runs as (

    select
        episodes.episode_id,
        count(distinct case
            when default_runs.completed_at >= episodes.started_at
                and default_runs.completed_at <= episodes.last_evidence_at
                then default_runs.run_id
        end) as runs_during,
        count(distinct case
            when default_runs.completed_at < episodes.started_at then default_runs.run_id
        end) as runs_before
    from episodes
    inner join {{ ref('fct_job_runs') }} as default_runs
        on
            episodes.job_key = default_runs.job_key
            and default_runs.is_default_branch
    where not episodes.is_default_branch
    group by episodes.episode_id

),

-- the evidence of the branch that holds most of it: one slow pull request plus a stray
-- outlier elsewhere is still that pull request's business
branch_evidence as (

    select
        episode_id,
        max(branch_items) as top_branch_items
    from (
        select
            episode_id,
            head_branch,
            sum(case when is_evidence then 1 else 0 end) as branch_items
        from episode_items
        group by episode_id, head_branch
    ) as per_branch
    group by episode_id

),

kept as (

    select
        episodes.episode_id,
        -- a rise in failures that re-runs mostly cure is flakiness, not breakage
        case
            when
                episodes.kind = 'failure_rate'
                and episode_failures.flaky_runs >= {{ var('apoa_flaky_min_events') }}
                and episode_failures.flaky_runs
                >= {{ var('apoa_flaky_min_cured_share') }} * episode_failures.rerun_failed_runs
                then 'flaky_job'
            else episodes.kind
        end as kind,
        episodes.kind as scored_kind,
        episodes.series_key,
        episodes.job_key,
        episodes.is_default_branch,
        episodes.runner_label,
        episodes.failure_signature,
        episodes.first_series_position,
        episodes.last_series_position,
        episodes.first_job_run_id,
        episodes.last_job_run_id,
        episodes.started_at,
        episodes.last_scored_at,
        episodes.detected_at,
        episodes.status,
        episodes.resolution,
        episodes.episode_runs,
        episodes.anomalous_runs,
        episodes.evidence_items,
        episodes.branches,
        episodes.observed_value,
        episodes.peak_observed_value,
        episodes.expected_value,
        episodes.expected_lower,
        episodes.expected_upper,
        episodes.baseline_runs,
        episodes.scorer,
        episodes.scorer_version,
        previous_items.last_good_job_run_id
    from episodes
    left join previous_items
        on episodes.episode_id = previous_items.episode_id
    left join episode_failures
        on episodes.episode_id = episode_failures.episode_id
    left join branch_evidence
        on episodes.episode_id = branch_evidence.episode_id
    left join default_branch_runs
        on episodes.episode_id = default_branch_runs.episode_id
    where
        episodes.kind in ('queue_spike', 'flaky_job', 'resource_misuse', 'metric_anomaly')
        or episodes.kind like 'security%'
        or episodes.is_default_branch
        or (
            episodes.branches >= {{ var('apoa_other_branches_min_branches') }}
            and episodes.evidence_items - branch_evidence.top_branch_items
            >= {{ var('apoa_other_branches_min_evidence') }}
            and (
                coalesce(default_branch_runs.runs_before, 0) = 0
                or default_branch_runs.runs_during
                >= {{ var('apoa_other_branches_min_default_runs') }}
            )
        )

)

select * from kept
