{#-
    is_incremental(), overridable: `--vars '{apoa_force_incremental: true}'` renders the
    incremental branch without a warehouse (e.g. to compile BigQuery SQL offline), false
    forces the full-refresh branch. Every incremental model asks this macro, never
    is_incremental() directly.
-#}
{% macro apoa_is_incremental() %}
    {%- set forced = var('apoa_force_incremental', none) -%}
    {%- if forced is none or forced == '' -%}
        {{ return(is_incremental()) }}
    {%- endif -%}
    {{ return(forced not in (false, 'false', 'False', 0, '0', 'no')) }}
{% endmacro %}
