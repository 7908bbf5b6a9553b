{#- default_branch_broken scores (macros/scoring/job_run_scores.sql), one per workflow run of a job. -#}
with

{{ default_branch_broken_score_ctes(ref('int_failure_series')) }},

series as (

    select
        job_run_id,
        job_key,
        is_default_branch
    from {{ ref('int_failure_series') }}

),

described as (

    select
        scores.*,
        series.job_key,
        series.is_default_branch,
        cast(null as {{ dbt.type_string() }}) as runner_label,
        cast(null as {{ dbt.type_string() }}) as failure_signature
    from scores
    inner join series
        on scores.job_run_id = series.job_run_id

)

select * from described
