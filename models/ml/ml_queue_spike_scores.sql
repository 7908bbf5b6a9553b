{#- queue_spike scores of the configured scorer, per runner pool (macros/scoring/job_run_scores.sql). -#}
{{
    config(
        materialized=apoa_scores_materialization(),
        unique_key='series_key',
        incremental_strategy='series_tail',
    )
}}

with

{{ apoa_rescore_cte(ref('int_queue_series')) }}

{{ queue_spike_score_ctes(apoa_touched_level_series(ref('int_queue_series'), 'queue')) }},

series as (

    select
        job_run_id,
        job_key,
        is_default_branch,
        state_load_seq,
        runner_label
    -- the scored series' points only: joined with every point of the history, the scores
    -- built a hash table of all of them on every micro-batch (0.17 s at 1M job runs)
    from {{ apoa_touched_series(ref('int_queue_series')) }}

),

described as (

    select
        scores.*,
        series.job_key,
        series.is_default_branch,
        series.state_load_seq,
        {{ apoa_scoring_fingerprint_sql() }} as scoring_fingerprint,
        series.runner_label,
        cast(null as {{ dbt.type_string() }}) as failure_signature
    from scores
    inner join series
        on scores.job_run_id = series.job_run_id

)

{{ apoa_rescored_rows('described') }}
