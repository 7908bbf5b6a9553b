{#- Natural logarithm, null for null, zero or negative input instead of an error. -#}
{% macro safe_ln(expr) %}
    {{- return(adapter.dispatch('safe_ln', 'apoa')(expr)) -}}
{% endmacro %}

{% macro default__safe_ln(expr) -%}
    case when {{ expr }} > 0 then ln({{ expr }}) end
{%- endmacro %}

{% macro bigquery__safe_ln(expr) -%}
    {#- BigQuery may evaluate both branches of a case: the safe. prefix turns errors into nulls. -#}
    case when {{ expr }} > 0 then safe.ln({{ expr }}) end
{%- endmacro %}
