{#-
    Precedence of GitHub Actions statuses: a later state outranks an earlier one, so the
    latest state of a job or run is chosen by rank, never by arrival order (GitHub and
    Pub/Sub deliver out of order and more than once).
-#}
{% macro job_status_rank(status) -%}
    case {{ status }}
        when 'completed' then 4
        when 'in_progress' then 3
        when 'waiting' then 2
        when 'queued' then 1
        else 0
    end
{%- endmacro %}

{% macro run_status_rank(status) -%}
    case {{ status }}
        when 'completed' then 4
        when 'in_progress' then 3
        when 'waiting' then 2
        when 'pending' then 2
        when 'action_required' then 2
        when 'requested' then 1
        when 'queued' then 1
        else 0
    end
{%- endmacro %}
