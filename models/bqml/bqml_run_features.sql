{{ config(enabled=apoa_bqml_enabled(['bqml_kmeans', 'vertex'])) }}
{#-
    One row per completed job run: the feature vector the IID scorers read (K-means in
    BigQuery ML, the Vertex AI model) and the AutoML training export writes. Logs tame the
    scale of durations and queue times; shares make steps comparable across jobs.
-#}
with

job_runs as (

    select
        job_run_id,
        job_key,
        runner_labels,
        conclusion,
        started_at,
        completed_at,
        duration_seconds,
        queue_seconds,
        longest_step_seconds
    from {{ ref('fct_job_runs') }}
    where completed_at is not null

),

step_runs as (

    select
        job_run_id,
        step_number,
        duration_seconds
    from {{ ref('fct_step_runs') }}

),

resources as (

    select
        job_run_id,
        cpu_utilization_peak,
        memory_utilization_peak
    from {{ ref('fct_job_run_resources') }}

),

steps_per_run as (

    select
        job_run_id,
        count(*) as step_count,
        sum(case when step_number = 1 then duration_seconds else 0 end) as setup_seconds
    from step_runs
    group by job_run_id

),

features as (

    select
        job_runs.job_run_id,
        job_runs.job_key,
        cast(job_runs.runner_labels as string) as runner_label,
        job_runs.conclusion,
        job_runs.completed_at,
        job_runs.duration_seconds,
        (extract(dayofweek from job_runs.started_at) - 1) * 24 + extract(hour from job_runs.started_at)
            as hour_of_week,
        ln(greatest(job_runs.duration_seconds, 1)) as ln_duration_seconds,
        ln(greatest(coalesce(job_runs.queue_seconds, 0), 0) + 1) as ln_queue_seconds,
        safe_divide(steps_per_run.setup_seconds, job_runs.duration_seconds) as setup_share,
        safe_divide(job_runs.longest_step_seconds, job_runs.duration_seconds) as longest_step_share,
        coalesce(steps_per_run.step_count, 0) as step_count,
        resources.cpu_utilization_peak,
        resources.memory_utilization_peak
    from job_runs
    left join steps_per_run
        on job_runs.job_run_id = steps_per_run.job_run_id
    left join resources
        on job_runs.job_run_id = resources.job_run_id

)

select * from features
