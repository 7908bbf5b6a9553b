-- A job attempt appears once in fct_job_runs, whatever order or how often its deliveries came.
select
    job_id,
    count(*) as job_run_rows
from {{ ref('fct_job_runs') }}
group by job_id
having count(*) > 1
