{#-
    A stable md5 hex id from a list of column expressions (nulls and the separator kept
    apart so ('a', null) and (null, 'a') differ). Built on dbt.concat and dbt.hash, which
    is md5() on DuckDB and to_hex(md5()) on BigQuery.
-#}
{% macro surrogate_key(fields) -%}
    {%- set parts = [] -%}
    {%- for field in fields -%}
        {%- if not loop.first -%}{%- do parts.append("'|'") -%}{%- endif -%}
        {%- do parts.append("coalesce(cast(" ~ field ~ " as " ~ dbt.type_string() ~ "), '_null_')") -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}
