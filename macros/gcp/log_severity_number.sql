{#-
    Cloud Logging's LogSeverity as its number (DEFAULT 0, DEBUG 100, INFO 200, NOTICE 300,
    WARNING 400, ERROR 500, CRITICAL 600, ALERT 700, EMERGENCY 800), so "at least ERROR" is
    a comparison. The API also accepts the number itself as JSON: kept as is. A missing
    severity is DEFAULT (0).
-#}
{% macro log_severity_number(severity) -%}
    case upper(coalesce({{ severity }}, 'DEFAULT'))
        when 'DEFAULT' then 0
        when 'DEBUG' then 100
        when 'INFO' then 200
        when 'NOTICE' then 300
        when 'WARNING' then 400
        when 'ERROR' then 500
        when 'CRITICAL' then 600
        when 'ALERT' then 700
        when 'EMERGENCY' then 800
        else coalesce({{ dbt.safe_cast(severity, dbt.type_bigint()) }}, 0)
    end
{%- endmacro %}
