{{
    config(
        materialized='incremental',
        unique_key='run_attempt_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        cluster_by=apoa_cluster_by(['run_id']),
    )
}}

{%- set state_columns = [
    'delivery_id', 'load_seq', 'ingested_at', 'is_backfill', 'run_id', 'run_attempt',
    'run_number', 'workflow_id', 'workflow_name', 'workflow_path', 'display_title', 'event',
    'status', 'conclusion', 'head_branch', 'head_sha', 'head_repository', 'actor_login',
    'triggering_actor_login', 'repository', 'repository_id', 'default_branch', 'created_at',
    'run_started_at', 'updated_at', 'html_url', 'check_suite_id', 'pull_requests',
    'pull_request_count', 'first_pull_request_number', 'status_rank',
] -%}

with

new_deliveries as (

    select
        {{ dbt.concat([
            dbt.safe_cast('run_id', dbt.type_string()),
            "'-'",
            dbt.safe_cast('run_attempt', dbt.type_string()),
        ]) }} as run_attempt_id,
        {% for column in state_columns -%}
            {{ column }},
        {% endfor -%}
        1 as delivery_count,
        load_seq as last_load_seq,
        ingested_at as last_ingested_at
    from {{ ref('stg_github__workflow_run_deliveries') }}
    {{ apoa_new_rows('load_seq', 'last_load_seq', 'ingested_at', 'last_ingested_at') }}

),

{% if apoa_is_incremental() and apoa_new_rows_overlap() -%}

    -- BigQuery re-reads a lookback window, part of which the held counts already include: the
    -- run attempts the new deliveries touch compete with all their other deliveries instead
    current_states as (

        select
            {{ dbt.concat([
                dbt.safe_cast('run_id', dbt.type_string()),
                "'-'",
                dbt.safe_cast('run_attempt', dbt.type_string()),
            ]) }} as run_attempt_id,
            {% for column in state_columns -%}
                {{ column }},
            {% endfor -%}
            1 as delivery_count,
            load_seq as last_load_seq,
            ingested_at as last_ingested_at
        from {{ ref('stg_github__workflow_run_deliveries') }}
        -- every attempt of the touched runs (a superset of the touched attempts: same result)
        where
            run_id in (select new_deliveries.run_id from new_deliveries)
            and delivery_id not in (select new_deliveries.delivery_id from new_deliveries)

    ),

{% elif apoa_is_incremental() -%}

    -- the state already held for the run attempts the new deliveries touch competes with them
    current_states as (

        select
            run_attempt_id,
            {% for column in state_columns -%}
                {{ column }},
            {% endfor -%}
            delivery_count,
            last_load_seq,
            last_ingested_at
        from {{ this }}
        where run_attempt_id in (select new_deliveries.run_attempt_id from new_deliveries)

    ),

{% endif -%}

candidates as (

    select * from new_deliveries
    {% if apoa_is_incremental() -%}
        union all
        select * from current_states
    {%- endif %}

),

ranked as (

    select
        *,
        -- precedence, then a webhook over a backfilled copy of the same state, then GitHub's
        -- own clock, then load order: never arrival order alone
        row_number() over (
            partition by run_attempt_id
            order by
                status_rank desc,
                case when is_backfill then 1 else 0 end asc,
                updated_at desc nulls last,
                {{ apoa_arrival_order(tiebreak_column='delivery_id', direction='desc') }}
        ) as state_rank,
        sum(delivery_count) over (partition by run_attempt_id) as run_delivery_count,
        max(last_load_seq) over (partition by run_attempt_id) as run_last_load_seq,
        max(last_ingested_at) over (partition by run_attempt_id) as run_last_ingested_at
    from candidates

),

latest_states as (

    select
        run_attempt_id,
        {% for column in state_columns -%}
            {{ column }},
        {% endfor -%}
        run_delivery_count as delivery_count,
        run_last_load_seq as last_load_seq,
        run_last_ingested_at as last_ingested_at
    from ranked
    where state_rank = 1

)

select * from latest_states
