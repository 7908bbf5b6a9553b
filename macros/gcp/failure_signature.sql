{#-
    A log line reduced to what stays the same when the same failure happens again: a
    failure signature. Masked, in this order (RE2 patterns, the same on DuckDB and BigQuery):
      timestamps (an ISO 8601 date with its time, then a bare hh:mm:ss)  -> <ts>
      UUIDs                                                              -> <uuid>
      paths (two or more segments joined by '/')                         -> <path>
      0x-prefixed numbers and hex tokens of 7 characters or more         -> <hex>
      remaining numbers                                                  -> <n>
    then runs of whitespace become one space, and the result is cut to 300 characters.
-#}
{% macro failure_signature(expr) -%}
    {%- set steps = [
        ('\\d{4}-\\d{2}-\\d{2}[T ]\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|[+-]\\d{2}:?\\d{2})?', '<ts>'),
        ('\\b\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?\\b', '<ts>'),
        ('\\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\b', '<uuid>'),
        ('[A-Za-z0-9_.~-]*(/[A-Za-z0-9_.~-]+)+/?', '<path>'),
        ('\\b0[xX][0-9a-fA-F]+\\b', '<hex>'),
        ('\\b[0-9a-fA-F]{7,}\\b', '<hex>'),
        ('\\d+(\\.\\d+)?', '<n>'),
        ('\\s+', ' '),
    ] -%}
    {%- set ns = namespace(sql=expr) -%}
    {%- for pattern, replacement in steps -%}
        {%- set ns.sql = regexp_replace_all(ns.sql, pattern, replacement) -%}
    {%- endfor -%}
    substr(trim({{ ns.sql }}), 1, 300)
{%- endmacro %}


{#- Every match of the RE2 `pattern` in `expr` replaced by `replacement` (both plain text,
    quoted here: the adapters disagree on backslashes in string literals). -#}
{% macro regexp_replace_all(expr, pattern, replacement) %}
    {{- return(adapter.dispatch('regexp_replace_all', 'apoa')(expr, pattern, replacement)) -}}
{% endmacro %}

{% macro default__regexp_replace_all(expr, pattern, replacement) -%}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}')
{%- endmacro %}

{% macro duckdb__regexp_replace_all(expr, pattern, replacement) -%}
    {#- DuckDB replaces only the first match unless given the 'g' option; its string literals
        keep backslashes as they are. -#}
    regexp_replace({{ expr }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro bigquery__regexp_replace_all(expr, pattern, replacement) -%}
    {#- BigQuery replaces every match, and reads backslash escapes in ordinary literals: raw
        string literals pass the pattern through unchanged. -#}
    regexp_replace({{ expr }}, r'{{ pattern }}', '{{ replacement }}')
{%- endmacro %}
