{{
    config(
        materialized='incremental',
        unique_key='job_id',
        incremental_strategy=apoa_incremental_strategy(),
        on_schema_change='fail',
        cluster_by=apoa_cluster_by(['job_id']),
    )
}}

{%- set state_columns = [
    'delivery_id', 'load_seq', 'ingested_at', 'is_backfill', 'job_id', 'run_id', 'run_attempt',
    'repository', 'default_branch', 'workflow_name', 'job_name', 'head_branch', 'head_sha',
    'status', 'conclusion', 'created_at', 'started_at', 'completed_at', 'runner_id',
    'runner_name', 'runner_group_id', 'runner_group_name', 'runner_labels', 'steps',
    'html_url', 'status_rank',
] -%}

with

new_deliveries as (

    select
        {% for column in state_columns -%}
            {{ column }},
        {% endfor -%}
        1 as delivery_count,
        load_seq as last_load_seq,
        ingested_at as last_ingested_at
    from {{ ref('stg_github__workflow_job_deliveries') }}
    {{ apoa_new_rows('load_seq', 'last_load_seq', 'ingested_at', 'last_ingested_at') }}

),

{% if apoa_is_incremental() and apoa_new_rows_overlap() -%}

    -- BigQuery re-reads a lookback window, part of which the held counts already include: the
    -- jobs the new deliveries touch compete with all their other deliveries instead
    current_states as (

        select
            {% for column in state_columns -%}
                {{ column }},
            {% endfor -%}
            1 as delivery_count,
            load_seq as last_load_seq,
            ingested_at as last_ingested_at
        from {{ ref('stg_github__workflow_job_deliveries') }}
        where
            job_id in (select new_deliveries.job_id from new_deliveries)
            and delivery_id not in (select new_deliveries.delivery_id from new_deliveries)

    ),

{% elif apoa_is_incremental() -%}

    -- the state already held for the jobs the new deliveries touch competes with them
    current_states as (

        select
            {% for column in state_columns -%}
                {{ column }},
            {% endfor -%}
            delivery_count,
            last_load_seq,
            last_ingested_at
        from {{ this }}
        where job_id in (select new_deliveries.job_id from new_deliveries)

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
            partition by job_id
            order by
                {% if apoa_unsafe('LATEST_BY_ARRIVAL') -%}
                    {{ apoa_arrival_order(tiebreak_column='delivery_id', direction='desc') }},
                {% endif -%}
                status_rank desc,
                case when is_backfill then 1 else 0 end asc,
                completed_at desc nulls last,
                started_at desc nulls last,
                {{ apoa_arrival_order(tiebreak_column='delivery_id', direction='desc') }}
        ) as state_rank,
        sum(delivery_count) over (partition by job_id) as job_delivery_count,
        max(last_load_seq) over (partition by job_id) as job_last_load_seq,
        max(last_ingested_at) over (partition by job_id) as job_last_ingested_at
    from candidates

),

latest_states as (

    select
        {% for column in state_columns -%}
            {{ column }},
        {% endfor -%}
        job_delivery_count as delivery_count,
        job_last_load_seq as last_load_seq,
        job_last_ingested_at as last_ingested_at
    from ranked
    where state_rank = 1

)

select * from latest_states
