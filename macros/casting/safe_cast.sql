{#-
    dbt's cross-database safe_cast is a plain cast on DuckDB (dbt-duckdb defines no variant),
    which fails the whole model on one bad value. Staging casts fields of payloads nobody here
    controls ("not a number" in a number field must give null, not an error): on DuckDB, route
    dbt.safe_cast to try_cast. dbt looks for dbt-namespace macros in the root project first.
-#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
