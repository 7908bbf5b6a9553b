-- A finding starts before it is detected, ends only when resolved, and after it started.
select
    finding_id,
    status,
    started_at,
    detected_at,
    ended_at
from {{ ref('fct_findings') }}
where
    detected_at < started_at
    or (status = 'open' and ended_at is not null)
    or (status = 'resolved' and (ended_at is null or ended_at < started_at))
