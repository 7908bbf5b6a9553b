{#-
    materialized='bqml_model': the model's SQL is the training query of a BigQuery ML model,
    created with one `create or replace model` statement whose options come from config:

        {{ config(
            materialized='bqml_model',
            bqml_options={'model_type': 'arima_plus', 'time_series_id_col': 'series_key', ...},
        ) }}

    A remote model (a Vertex AI endpoint) has no training query: config `bqml_remote` =
    {'connection': 'project.region.connection_id', 'endpoint': 'https://...',
     'input': {column: type, ...}, 'output': {column: type, ...}} and an empty body.
    BigQuery only: any other adapter gets a compile error naming the model.
    The DDL is rendered by apoa_bqml_model_ddl, which tests call directly
    (tests/test_bqml.py), since dbt compile never renders a materialization's statement.
-#}
{% materialization bqml_model, adapter='bigquery' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {{ run_hooks(pre_hooks) }}
    {% call statement('main') -%}
        {{ apoa_bqml_model_ddl(target_relation, config.get('bqml_options', {}), sql, config.get('bqml_remote')) }}
    {%- endcall %}
    {{ run_hooks(post_hooks) }}
    {{ return({'relations': []}) }}
{% endmaterialization %}

{% materialization bqml_model, default %}
    {{ exceptions.raise_compiler_error(
        "model " ~ this ~ " is a BigQuery ML model (materialized='bqml_model'), which needs the "
        ~ "bigquery adapter; this target is " ~ adapter.type() ~ ". Build it with a bigquery "
        ~ "target, or pick a local scorer (var apoa_scorer: robust or zscore)."
    ) }}
{% endmaterialization %}


{#- One option value in BigQuery's literal syntax: 'text', true/false, numbers, [arrays]. -#}
{% macro apoa_bqml_option_value(value) -%}
    {%- if value is sameas true -%}
        true
    {%- elif value is sameas false -%}
        false
    {%- elif value is number -%}
        {{ value }}
    {%- elif value is string -%}
        '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- elif value is iterable and value is not mapping -%}
        [{% for item in value %}{{ apoa_bqml_option_value(item) }}{% if not loop.last %}, {% endif %}{% endfor %}]
    {%- else -%}
        {{ exceptions.raise_compiler_error("bqml option value " ~ value ~ " is not a string, number, bool or list") }}
    {%- endif -%}
{%- endmacro %}


{#- `name type, ...` of a remote model's INPUT or OUTPUT clause, from a {column: type} mapping. -#}
{% macro apoa_bqml_schema(columns) -%}
    {%- for name, type in columns.items() -%}
        {{ name }} {{ type }}{% if not loop.last %}, {% endif %}
    {%- endfor -%}
{%- endmacro %}


{#- The statement the materialization issues (lowercase, as the house style writes SQL). -#}
{% macro apoa_bqml_model_ddl(relation, options, sql, remote=none) -%}
    {%- if remote -%}
        {%- for key in ['connection', 'endpoint', 'input', 'output'] -%}
            {%- if not remote.get(key) -%}
                {{ exceptions.raise_compiler_error("bqml_remote of " ~ relation ~ " needs '" ~ key ~ "'") }}
            {%- endif -%}
        {%- endfor -%}
create or replace model {{ relation }}
input ({{ apoa_bqml_schema(remote['input']) }})
output ({{ apoa_bqml_schema(remote['output']) }})
remote with connection `{{ remote['connection'] }}`
options (endpoint = {{ apoa_bqml_option_value(remote['endpoint']) }})
    {%- else -%}
        {%- if not options.get('model_type') -%}
            {{ exceptions.raise_compiler_error("bqml_options of " ~ relation ~ " needs 'model_type'") }}
        {%- endif -%}
create or replace model {{ relation }}
options (
{%- for key, value in options.items() %}
    {{ key }} = {{ apoa_bqml_option_value(value) }}{% if not loop.last %},{% endif %}
{%- endfor %}
)
as (
{{ sql | trim }}
)
    {%- endif -%}
{%- endmacro %}
