{#-
    Link log entries or metric points (`items`) to the job attempts (`jobs`) they belong to.
    Renders one select returning (item_id, job_run_id, link_method, unlinked_reason), one row
    per item of `items`.

    items: item_id, observed_at, link_run_id, link_run_attempt, link_job, link_source
           ('labels' or 'execution_id': where the run id came from), runner_name
    jobs:  job_id, run_id, run_attempt, job_name, runner_name, started_at, completed_at

    1. An item naming a run (link_run_id) is linked by labels: the jobs of that run (and of
       that attempt, when given) whose name is link_job, or ends with ' / ' || link_job (a job
       of a reusable workflow is named '<caller job> / <job>'). Among several, a job on the
       item's runner wins, then one whose [started_at, completed_at] holds the item; a tie
       left is 'ambiguous_job', no job at all 'job_not_found' (its webhook may still come).
    2. Otherwise an item naming a runner is linked by runner and time window: the job on that
       runner that started last at or before the item, if the item falls before its
       completed_at + var('apoa_link_window_slack_seconds') and no other job on that runner
       covers the item ('ambiguous_runner_window'); none covering is 'no_job_on_runner_in_window'.
    3. An item with neither is 'no_link_labels'.
-#}
{% macro link_to_job_runs(items, jobs) -%}
    select
        item_id,
        job_run_id,
        link_method,
        unlinked_reason
    from (
        {{ apoa_link_by_labels(items, jobs) }}
    ) as by_labels
    union all
    select
        item_id,
        job_run_id,
        link_method,
        unlinked_reason
    from (
        {{ apoa_link_by_runner_window(items, jobs) }}
    ) as by_runner_window
    union all
    select
        item_id,
        cast(null as {{ dbt.type_bigint() }}) as job_run_id,
        cast(null as {{ dbt.type_string() }}) as link_method,
        'no_link_labels' as unlinked_reason
    from {{ items }}
    where link_run_id is null and runner_name is null
{%- endmacro %}


{#-
    The label path works per distinct link key (run, attempt, job name, runner), not per
    item: all the points of a series share one, so the join and the choice happen once per
    series. Only a key left with several equally good candidates is decided item by item,
    by which candidate's [started_at, completed_at] holds the item.
-#}
{% macro apoa_link_by_labels(items, jobs) -%}
    select
        labelled.item_id,
        case
            when keys.best_candidates = 1 then keys.best_job_id
            when keys.best_candidates > 1 and windowed.window_candidates = 1 then windowed.job_id
        end as job_run_id,
        labelled.link_source as link_method,
        case
            when keys.best_candidates is null then 'job_not_found'
            when keys.best_candidates > 1 and coalesce(windowed.window_candidates, 0) != 1
                then 'ambiguous_job'
        end as unlinked_reason
    from {{ items }} as labelled
    left join (
        -- per key: how many candidates share the best runner match, and the best one
        select
            scored.link_run_id,
            scored.link_run_attempt,
            scored.link_job,
            scored.runner_name,
            count(*) as best_candidates,
            max(scored.job_id) as best_job_id
        from ({{ apoa_label_candidates(items, jobs) }}) as scored
        where scored.runner_match = scored.best_runner_match
        group by scored.link_run_id, scored.link_run_attempt, scored.link_job, scored.runner_name
    ) as keys
        on
            labelled.link_run_id = keys.link_run_id
            and coalesce(labelled.link_run_attempt, -1) = coalesce(keys.link_run_attempt, -1)
            and coalesce(labelled.link_job, '') = coalesce(keys.link_job, '')
            and coalesce(labelled.runner_name, '') = coalesce(keys.runner_name, '')
    left join (
        -- items of a key with a tie: the candidates whose time window holds the item
        select
            tied_items.item_id,
            count(*) as window_candidates,
            max(tied.job_id) as job_id
        from {{ items }} as tied_items
        inner join ({{ apoa_label_candidates(items, jobs) }}) as tied
            on
                tied_items.link_run_id = tied.link_run_id
                and coalesce(tied_items.link_run_attempt, -1) = coalesce(tied.link_run_attempt, -1)
                and coalesce(tied_items.link_job, '') = coalesce(tied.link_job, '')
                and coalesce(tied_items.runner_name, '') = coalesce(tied.runner_name, '')
                and tied.runner_match = tied.best_runner_match
                and tied.key_best_candidates > 1
                and tied_items.observed_at >= tied.started_at
                and tied_items.observed_at <= tied.completed_at
        group by tied_items.item_id
    ) as windowed
        on labelled.item_id = windowed.item_id
    where labelled.link_run_id is not null
{%- endmacro %}


{#- The jobs each distinct label key can mean, with whether each is on the key's runner. -#}
{% macro apoa_label_candidates(items, jobs) -%}
    select
        matched.*,
        max(matched.runner_match) over (
            partition by matched.link_run_id, matched.link_run_attempt, matched.link_job, matched.runner_name
        ) as best_runner_match,
        -- how many candidates share the best runner match
        case
            when max(matched.runner_match) over (
                partition by matched.link_run_id, matched.link_run_attempt, matched.link_job, matched.runner_name
            ) = 1
                then sum(matched.runner_match) over (
                    partition by matched.link_run_id, matched.link_run_attempt, matched.link_job, matched.runner_name
                )
            else count(*) over (
                partition by matched.link_run_id, matched.link_run_attempt, matched.link_job, matched.runner_name
            )
        end as key_best_candidates
    from (
        select
            link_keys.link_run_id,
            link_keys.link_run_attempt,
            link_keys.link_job,
            link_keys.runner_name,
            candidate_jobs.job_id,
            candidate_jobs.started_at,
            candidate_jobs.completed_at,
            case when candidate_jobs.runner_name = link_keys.runner_name then 1 else 0 end as runner_match
        from (
            select distinct
                link_run_id,
                link_run_attempt,
                link_job,
                runner_name
            from {{ items }}
            where link_run_id is not null
        ) as link_keys
        inner join (
            -- the named runs' jobs only: a micro-batch's few items must not read every job
            select *
            from {{ jobs }}
            where run_id in (select link_run_id from {{ items }})
        ) as candidate_jobs
            on
                link_keys.link_run_id = candidate_jobs.run_id
                and coalesce(link_keys.link_run_attempt, candidate_jobs.run_attempt) = candidate_jobs.run_attempt
                and (
                    link_keys.link_job is null
                    or candidate_jobs.job_name = link_keys.link_job
                    or ends_with(candidate_jobs.job_name, concat(' / ', link_keys.link_job))
                )
    ) as matched
{%- endmacro %}


{#- Jobs per runner and start second; two jobs starting together on one runner make a tie.
    Only the runners `items` name without a run: each runner is a partition of its own, and
    a micro-batch's few items must not group every job of the history. -#}
{% macro apoa_runner_job_starts(jobs, items) -%}
    select
        runner_name,
        started_at,
        max(completed_at) as completed_at,
        case when count(*) = 1 then max(job_id) end as job_id,
        count(*) as starting_jobs
    from {{ jobs }}
    where
        runner_name in (
            select runner_items.runner_name
            from {{ items }} as runner_items
            where runner_items.link_run_id is null
        )
        and started_at is not null
        and completed_at is not null
    group by runner_name, started_at
{%- endmacro %}


{% macro apoa_link_by_runner_window(items, jobs) %}
    {{- return(adapter.dispatch('apoa_link_by_runner_window', 'apoa')(items, jobs)) -}}
{% endmacro %}

{% macro default__apoa_link_by_runner_window(items, jobs) -%}
    {%- set slack = var('apoa_link_window_slack_seconds', 5) -%}
    select
        windowed.item_id,
        case
            when
                candidates.start_rank = 1
                and candidates.is_covering = 1
                and candidates.covering_jobs = 1
                and candidates.starting_jobs = 1
                then candidates.job_id
        end as job_run_id,
        'runner_window' as link_method,
        case
            when coalesce(candidates.covering_jobs, 0) = 0 then 'no_job_on_runner_in_window'
            when
                candidates.start_rank = 1
                and candidates.is_covering = 1
                and candidates.covering_jobs = 1
                and candidates.starting_jobs = 1
                then null
            else 'ambiguous_runner_window'
        end as unlinked_reason
    from {{ items }} as windowed
    left join (
        select
            window_items.item_id,
            starts.job_id,
            starts.starting_jobs,
            case
                when {{ seconds_between('starts.completed_at', 'window_items.observed_at') }} <= {{ slack }}
                    then 1
                else 0
            end as is_covering,
            sum(
                case
                    when {{ seconds_between('starts.completed_at', 'window_items.observed_at') }} <= {{ slack }}
                        then 1
                    else 0
                end
            ) over (partition by window_items.item_id) as covering_jobs,
            row_number() over (
                partition by window_items.item_id order by starts.started_at desc
            ) as start_rank
        from {{ items }} as window_items
        inner join ({{ apoa_runner_job_starts(jobs, items) }}) as starts
            on
                window_items.runner_name = starts.runner_name
                and window_items.observed_at >= starts.started_at
        where window_items.link_run_id is null
    ) as candidates
        on windowed.item_id = candidates.item_id and candidates.start_rank = 1
    where windowed.link_run_id is null and windowed.runner_name is not null
{%- endmacro %}

{% macro duckdb__apoa_link_by_runner_window(items, jobs) -%}
    {#- An ASOF join finds the job that started last before each item in one sorted pass; a
        running max of earlier jobs' completed_at says whether another job still covers it.
        Same rule as the default variant, which joins every earlier job on the runner. -#}
    {%- set slack = var('apoa_link_window_slack_seconds', 5) -%}
    select
        window_items.item_id,
        case
            when
                starts.starting_jobs = 1
                and {{ seconds_between('starts.completed_at', 'window_items.observed_at') }} <= {{ slack }}
                and (
                    starts.earlier_completed_at is null
                    or {{ seconds_between('starts.earlier_completed_at', 'window_items.observed_at') }} > {{ slack }}
                )
                then starts.job_id
        end as job_run_id,
        'runner_window' as link_method,
        case
            when
                starts.started_at is null
                or (
                    {{ seconds_between('starts.completed_at', 'window_items.observed_at') }} > {{ slack }}
                    and (
                        starts.earlier_completed_at is null
                        or {{ seconds_between('starts.earlier_completed_at', 'window_items.observed_at') }} > {{ slack }}
                    )
                )
                then 'no_job_on_runner_in_window'
            when
                starts.starting_jobs = 1
                and {{ seconds_between('starts.completed_at', 'window_items.observed_at') }} <= {{ slack }}
                and (
                    starts.earlier_completed_at is null
                    or {{ seconds_between('starts.earlier_completed_at', 'window_items.observed_at') }} > {{ slack }}
                )
                then null
            else 'ambiguous_runner_window'
        end as unlinked_reason
    from (
        select
            item_id,
            observed_at,
            runner_name
        from {{ items }}
        where link_run_id is null and runner_name is not null
    ) as window_items
    asof left join (
        select
            runner_name,
            started_at,
            completed_at,
            job_id,
            starting_jobs,
            max(completed_at) over (
                partition by runner_name
                order by started_at
                rows between unbounded preceding and 1 preceding
            ) as earlier_completed_at
        from ({{ apoa_runner_job_starts(jobs, items) }}) as runner_starts
    ) as starts
        on
            window_items.runner_name = starts.runner_name
            and window_items.observed_at >= starts.started_at
{%- endmacro %}


{#-
    The jobs whose links may change when `changed_jobs` change: the other jobs of the same
    runs (the label path's candidates) and the jobs on the same runners around the same time
    (the time-window path's). A superset is harmless; it is recomputed, not duplicated.
    Renders a select of job_id.
-#}
{% macro apoa_link_neighbor_jobs(changed_jobs, all_jobs) -%}
    {%- set slack = var('apoa_link_window_slack_seconds', 5) -%}
    select same_run.job_id
    from {{ all_jobs }} as same_run
    inner join (select distinct run_id from {{ changed_jobs }}) as changed_run_ids
        on same_run.run_id = changed_run_ids.run_id
    union distinct
    select same_runner.job_id
    from {{ all_jobs }} as same_runner
    inner join ({{ apoa_runner_windows(changed_jobs) }}) as runner_windows
        on
            same_runner.runner_name = runner_windows.runner_name
            and {{ seconds_between('runner_windows.window_end', 'same_runner.started_at') }} <= {{ slack }}
            and {{ seconds_between(
                'coalesce(same_runner.completed_at, same_runner.started_at)', 'runner_windows.window_start'
            ) }} <= {{ slack }}
{%- endmacro %}


{#- Per runner, the span from the first start to the last end of `jobs` (to bound re-linking). -#}
{% macro apoa_runner_windows(jobs) -%}
    select
        runner_name,
        min(started_at) as window_start,
        max(coalesce(completed_at, started_at)) as window_end
    from {{ jobs }}
    where runner_name is not null and started_at is not null
    group by runner_name
{%- endmacro %}
