{#-
    True when the text `expr` contains any of `patterns` (plain strings, not regular
    expressions), ignoring case; null for a null text. One regular expression reads the text
    once: the same test as one `strpos(lower(text), pattern) > 0` per pattern, which lowered
    and searched 1M job names once per pattern on every build (0.18 against 0.11 s at 1M job
    runs, DuckDB).
-#}
{% macro contains_any(expr, patterns) %}
    {%- set alternatives = [] -%}
    {%- for pattern in patterns -%}
        {%- set escaped = [] -%}
        {%- for character in pattern | lower -%}
            {%- do escaped.append('\\' ~ character if character in '\\.^$|?*+()[]{}' else character) -%}
        {%- endfor -%}
        {%- do alternatives.append(escaped | join('') | replace("'", "''")) -%}
    {%- endfor -%}
    {{- return(adapter.dispatch('contains_any', 'apoa')(expr, alternatives | join('|'))) -}}
{% endmacro %}

{% macro default__contains_any(expr, alternation) -%}
    regexp_contains(lower({{ expr }}), '{{ alternation | replace("\\", "\\\\") }}')
{%- endmacro %}

{% macro duckdb__contains_any(expr, alternation) -%}
    regexp_matches({{ expr }}, '(?i)(?:{{ alternation }})')
{%- endmacro %}
