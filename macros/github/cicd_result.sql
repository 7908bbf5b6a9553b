{#-
    A GitHub Actions conclusion in the vocabulary of the OpenTelemetry CI/CD semantic
    conventions (cicd.pipeline.result and cicd.pipeline.task.run.result): success, failure,
    error, timeout, cancellation, skip. Conclusions with no counterpart (neutral, stale,
    action_required) and runs not yet concluded give null.
-#}
{% macro cicd_result(conclusion) -%}
    case {{ conclusion }}
        when 'success' then 'success'
        when 'failure' then 'failure'
        when 'timed_out' then 'timeout'
        when 'cancelled' then 'cancellation'
        when 'skipped' then 'skip'
        when 'startup_failure' then 'error'
    end
{%- endmacro %}

{#- True when a conclusion counts as a failure: failure or timed_out (never null). -#}
{% macro is_failed_conclusion(conclusion) -%}
    coalesce({{ conclusion }} in ('failure', 'timed_out'), false)
{%- endmacro %}
