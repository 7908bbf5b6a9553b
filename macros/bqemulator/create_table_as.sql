{#-
    bqemulator only (the profile target of that name, tests/test_bigquery_models.py): every
    other target gets dbt-bigquery's own macro, untouched.

    A model with an enforced contract is created by dbt-bigquery as
    `create or replace table t (columns and constraints) as (select ...)`, which BigQuery runs
    and bqemulator cannot (its DuckDB refuses a column list beside AS). On the emulator the
    contract is still checked the same way (column names and types against the model's YAML,
    before anything runs), then the table is created with its declared columns and filled by
    an insert: the same table, in two statements of one script. docs/bigquery.md lists this.
-#}
{% macro bigquery__create_table_as(temporary, relation, compiled_code, language='sql') -%}
    {%- set contract_config = config.get('contract') -%}
    {%- if target.name != 'bqemulator' or language != 'sql' or not contract_config.enforced -%}
        {{ dbt.bigquery__create_table_as(temporary, relation, compiled_code, language) }}
    {%- else -%}
        {{ get_assert_columns_equivalent(compiled_code) }}
        create or replace table {{ relation }}
        {{ get_table_columns_and_constraints() }}
        {{ partition_by(adapter.parse_partition_by(config.get('partition_by', none))) }}
        {{ cluster_by(config.get('cluster_by', none)) }};
        insert into {{ relation }}
        {{ get_select_subquery(compiled_code) }};
    {%- endif -%}
{%- endmacro %}
