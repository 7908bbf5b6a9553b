{#-
    Security signals, rules shared by every scorer (docs/anomaly-engine.md, "Security
    signals"). Each flags job runs; `failure_signature` carries what the rule saw:
    - security_new_runner_label: a job ran on a runs-on label set never seen before in its
      repository (a self-hosted runner appearing), once the repository has history;
    - security_new_deploy_actor: a deploying workflow (its workflow or job name or path
      contains one of `apoa_security_deploy_patterns`) started, or re-run, by an actor or
      triggering actor whose first appearance in the repository is this run;
    - security_fork_pull_request_target: a pull_request_target run (which has the base
      repository's secrets and a write token) for a pull request from a fork: the head
      repository is another one, or GitHub lists no pull request (it lists none for forks);
    - security_secret_in_logs: a log line of the job mentions a secret
      (`apoa_security_secret_log_patterns`, e.g. the runner's "Skip output ... since it may
      contain secret").
    "Never seen" needs `apoa_security_min_history_runs` earlier job runs and
    `apoa_security_min_history_days` days of the repository. Occurrences of one signal
    (kind, repository, what was seen) within `apoa_security_episode_hours` of each other are
    one episode, resolved (fixed) once the repository ran that long without one.
-#}
{%- set text = dbt.type_string() -%}
{%- set min_runs = var('apoa_security_min_history_runs') -%}
{%- set min_hours = var('apoa_security_min_history_days') * 24 -%}
{%- set episode_hours = var('apoa_security_episode_hours') -%}
{#- what a job run shows whatever the repository's history: counted without one -#}
{%- set needs_no_history = "('security_fork_pull_request_target', 'security_secret_in_logs')" -%}

with

job_runs as {{ apoa_not_materialized() }} (

    select
        job_run_id,
        job_key,
        repository,
        workflow_name,
        workflow_path,
        job_name,
        run_id,
        run_attempt,
        runner_labels,
        created_at,
        completed_at
    from {{ ref('fct_job_runs') }}

),

workflow_runs as {{ apoa_not_materialized() }} (

    select
        run_attempt_id,
        run_id,
        run_attempt,
        repository,
        event,
        actor_login,
        triggering_actor_login,
        pull_request_count,
        created_at
    from {{ ref('fct_workflow_runs') }}

),

run_heads as (

    select
        run_attempt_id,
        head_repository
    from {{ ref('stg_github__workflow_runs') }}

),

log_lines as (

    select
        links.job_run_id,
        entries.log_message
    from {{ ref('int_log_entries_linked_to_job_runs') }} as links
    inner join {{ ref('stg_gcp_logging__log_entries') }} as entries
        on links.log_entry_id = entries.log_entry_id
    where links.job_run_id is not null and entries.log_message is not null

),

-- the first time each label set appears in its repository: grouped by the labels as
-- delivered first (translating every job run's labels cost more than the grouping)
delivered_label_sets as (

    select
        repository,
        runner_labels,
        min(created_at) as first_at
    from job_runs
    where runner_labels is not null
    group by repository, runner_labels

),

label_first_times as (

    select
        repository,
        {{ runner_label('runner_labels') }} as runner_label,
        min(first_at) as first_at
    from delivered_label_sets
    group by repository, {{ runner_label('runner_labels') }}

),

-- the first job run of each label set in its repository (earliest, then lowest id), by
-- aggregates: numbering every job run of the history by a window sorted it on every build
label_first_job_runs as (

    select
        label_first_times.repository,
        label_first_times.runner_label,
        min(job_runs.job_run_id) as job_run_id
    from job_runs
    inner join label_first_times
        on
            job_runs.repository = label_first_times.repository
            and job_runs.created_at = label_first_times.first_at
    where {{ runner_label('job_runs.runner_labels') }} = label_first_times.runner_label
    group by label_first_times.repository, label_first_times.runner_label

),

first_sightings as (

    select
        label_first_job_runs.repository,
        label_first_job_runs.runner_label,
        job_runs.run_id
    from job_runs
    inner join label_first_job_runs
        on job_runs.job_run_id = label_first_job_runs.job_run_id

),

-- the first run of each label set in its repository: every job of it on that label set
new_runner_labels as (

    select
        job_runs.job_run_id,
        'security_new_runner_label' as kind,
        first_sightings.runner_label,
        concat('runner:', first_sightings.runner_label) as signature,
        job_runs.job_key,
        job_runs.repository,
        job_runs.created_at,
        job_runs.completed_at
    from job_runs
    inner join first_sightings
        on
            job_runs.repository = first_sightings.repository
            and job_runs.run_id = first_sightings.run_id
    where {{ runner_label('job_runs.runner_labels') }} = first_sightings.runner_label

),

actor_sightings as (

    select
        repository,
        actor_login as login,
        created_at
    from workflow_runs
    where actor_login is not null
    union all
    select
        repository,
        triggering_actor_login as login,
        created_at
    from workflow_runs
    where triggering_actor_login is not null

),

first_actor_sightings as (

    select
        repository,
        login,
        min(created_at) as first_seen_at
    from actor_sightings
    group by repository, login

),

-- the pattern is matched after the joins, on the few runs with an actor's first sighting:
-- matched on every job run of the history it cost 0.18 s at 1M job runs. It names the
-- sighting (never null after the inner join) so that the optimizer cannot push it down to
-- the job runs' scan.
new_deploy_actors as (

    select
        job_runs.job_run_id,
        'security_new_deploy_actor' as kind,
        cast(null as {{ text }}) as runner_label,
        concat('actor:', first_actor_sightings.login) as signature,
        job_runs.job_key,
        job_runs.repository,
        job_runs.created_at,
        job_runs.completed_at
    from job_runs
    inner join workflow_runs
        on
            job_runs.run_id = workflow_runs.run_id
            and job_runs.run_attempt = workflow_runs.run_attempt
    inner join first_actor_sightings
        on
            workflow_runs.repository = first_actor_sightings.repository
            and first_actor_sightings.login in (
                workflow_runs.actor_login, workflow_runs.triggering_actor_login
            )
            and workflow_runs.created_at = first_actor_sightings.first_seen_at
    where
        case
            when first_actor_sightings.login is not null
                then {{ contains_any(
                    "concat(coalesce(job_runs.workflow_name, ''), ' ', coalesce(job_runs.workflow_path, ''), ' ', coalesce(job_runs.job_name, ''))",
                    var('apoa_security_deploy_patterns'),
                ) }}
        end

),

fork_pull_request_targets as (

    select
        job_runs.job_run_id,
        'security_fork_pull_request_target' as kind,
        cast(null as {{ text }}) as runner_label,
        concat('fork:', coalesce(run_heads.head_repository, '(pull request not listed)')) as signature,
        job_runs.job_key,
        job_runs.repository,
        job_runs.created_at,
        job_runs.completed_at
    from job_runs
    inner join workflow_runs
        on
            job_runs.run_id = workflow_runs.run_id
            and job_runs.run_attempt = workflow_runs.run_attempt
    left join run_heads
        on workflow_runs.run_attempt_id = run_heads.run_attempt_id
    where
        workflow_runs.event = 'pull_request_target'
        and (
            run_heads.head_repository != workflow_runs.repository
            or coalesce(workflow_runs.pull_request_count, 0) = 0
        )

),

secret_lines as (

    select
        job_run_id,
        min(substr(log_message, 1, 200)) as log_message
    from log_lines
    where {{ contains_any('log_message', var('apoa_security_secret_log_patterns')) }}
    group by job_run_id

),

secrets_in_logs as (

    select
        secret_lines.job_run_id,
        'security_secret_in_logs' as kind,
        cast(null as {{ text }}) as runner_label,
        concat('log:', secret_lines.log_message) as signature,
        job_runs.job_key,
        job_runs.repository,
        job_runs.created_at,
        job_runs.completed_at
    from secret_lines
    inner join job_runs
        on secret_lines.job_run_id = job_runs.job_run_id

),

signals as (

    select * from new_runner_labels
    union all
    select * from new_deploy_actors
    union all
    select * from fork_pull_request_targets
    union all
    select * from secrets_in_logs

),

repository_spans as (

    select
        repository,
        min(created_at) as repository_first_at,
        max(completed_at) as repository_last_at
    from job_runs
    group by repository

),

-- a signal of a repository younger than `apoa_security_min_history_days` cannot count (the
-- first label sets of every repository are "new"): dropped before job runs are numbered
candidate_signals as (

    select
        signals.job_run_id,
        signals.kind,
        signals.runner_label,
        signals.signature,
        signals.job_key,
        signals.repository,
        signals.created_at,
        signals.completed_at,
        repository_spans.repository_last_at
    from signals
    inner join repository_spans
        on signals.repository = repository_spans.repository
    where
        signals.kind in {{ needs_no_history }}
        or {{ seconds_between('repository_spans.repository_first_at', 'signals.created_at') }}
        >= {{ min_hours * 3600 }}

),

-- how much of the repository came before each job run, numbered in the repositories with a
-- candidate signal only (numbering every job run of the history took 0.75 s at 1M job runs)
repository_history as (

    select
        job_run_id,
        row_number() over (partition by repository order by created_at asc, job_run_id asc) - 1
            as earlier_job_runs
    from job_runs
    where repository in (select candidate_signals.repository from candidate_signals)

),

-- "never seen" means something only once the repository has history
flagged as (

    select
        candidate_signals.job_run_id,
        candidate_signals.kind,
        candidate_signals.runner_label,
        candidate_signals.signature,
        candidate_signals.job_key,
        candidate_signals.created_at as scored_at,
        coalesce(candidate_signals.completed_at, candidate_signals.created_at) as known_at,
        repository_history.earlier_job_runs,
        candidate_signals.repository_last_at,
        -- a secret in the logs is the job's; the other signals are the repository's
        {{ surrogate_key([
            'candidate_signals.kind',
            "case when candidate_signals.kind = 'security_secret_in_logs' then candidate_signals.job_key "
            ~ "else candidate_signals.repository end",
            "case when candidate_signals.kind = 'security_secret_in_logs' then '' else candidate_signals.signature end",
        ]) }} as series_key
    from candidate_signals
    inner join repository_history
        on candidate_signals.job_run_id = repository_history.job_run_id
    where
        candidate_signals.kind in {{ needs_no_history }}
        or repository_history.earlier_job_runs >= {{ min_runs }}

),

ordered as (

    select
        *,
        row_number() over (partition by series_key order by scored_at asc, job_run_id asc)
            as series_position,
        lag(scored_at) over (partition by series_key order by scored_at asc, job_run_id asc)
            as previous_at
    from flagged

),

islands as (

    select
        *,
        sum(
            case
                when previous_at is null
                    or {{ seconds_between('previous_at', 'scored_at') }} > {{ episode_hours * 3600 }}
                    then 1
                else 0
            end
        ) over (
            partition by series_key order by series_position
            rows between unbounded preceding and current row
        ) as island_number
    from ordered

),

island_starts as (

    select
        *,
        min(series_position) over (partition by series_key, island_number) as island_start
    from islands

),

episodes as (

    select
        series_key,
        island_number,
        {{ surrogate_key([
            'min(kind)', 'series_key', 'min(case when series_position = island_start then job_run_id end)',
        ]) }} as episode_id,
        min(known_at) as detected_at,
        case
            when
                {{ seconds_between('max(scored_at)', 'max(repository_last_at)') }}
                > {{ episode_hours * 3600 }}
                then 'fixed'
        end as resolution
    from island_starts
    group by series_key, island_number

),

scores as (

    select
        islands.job_run_id,
        islands.series_key,
        islands.series_position,
        islands.kind,
        islands.scored_at,
        islands.known_at,
        1.0 as observed_value,
        0.0 as expected_value,
        0.0 as lower_bound,
        0.5 as upper_bound,
        true as is_anomaly,
        1.0 as anomaly_probability,
        islands.earlier_job_runs as history_runs,
        islands.signature as failure_signature,
        islands.job_key,
        cast(null as {{ dbt.type_boolean() }}) as is_default_branch,
        islands.runner_label,
        episodes.episode_id,
        episodes.detected_at as episode_detected_at,
        case when episodes.resolution is null then 'open' else 'resolved' end as episode_status,
        episodes.resolution as episode_resolution
    from islands
    inner join episodes
        on
            islands.series_key = episodes.series_key
            and islands.island_number = episodes.island_number

)

select * from scores
