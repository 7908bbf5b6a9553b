{#-
    Operations around the bqml_model materialization, for people and tests (nothing here runs
    on a schedule):

    - apoa_bqml_render_ddl(models): logs the `create or replace model` statement each named
      bqml_model would issue, one JSON line per model ({"model", "ddl"}). `models` maps a
      model name to its compiled training query (target/compiled/...; '' for a remote model).
      dbt compile renders a model's query but never its materialization's statement; this
      renders that statement with the very macro the materialization calls.

          dbt run-operation apoa_bqml_render_ddl --args '{models: {bqml_kmeans_runs: "select ..."}}'

    - apoa_export_training_data(uri, run=false): the EXPORT DATA statement that writes the
      per-run feature vectors to Cloud Storage for Vertex AI AutoML training
      (docs/scorers.md). Logged, and executed only with run=true.
-#}
{% macro apoa_bqml_render_ddl(models) %}
    {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.materialized == 'bqml_model'
        and node.name in models -%}
        {%- set relation = api.Relation.create(
            database=node.database, schema=node.schema, identifier=node.alias, type='table'
        ) -%}
        {%- set ddl = apoa_bqml_model_ddl(
            relation, node.config.get('bqml_options') or {}, models[node.name],
            node.config.get('bqml_remote')
        ) -%}
        {{ log(tojson({'model': node.name, 'ddl': ddl}), info=true) }}
    {%- endfor -%}
{% endmacro %}


{% macro apoa_export_training_data(uri, run=false) %}
    {%- set features = none -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'bqml_run_features' -%}
        {%- set features = api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- set sql -%}
export data options (
    uri = {{ apoa_bqml_option_value(uri) }},
    format = 'parquet',
    overwrite = true
)
as (
    select
        job_run_id,
        job_key,
        runner_label,
        hour_of_week,
        ln_queue_seconds,
        setup_share,
        longest_step_share,
        step_count,
        cpu_utilization_peak,
        memory_utilization_peak,
        completed_at,
        duration_seconds
    from {{ features }}
    where conclusion = 'success'
)
        {%- endset -%}
        {{ log(tojson({'operation': 'export_training_data', 'sql': sql}), info=true) }}
        {%- if run -%}
            {%- do run_query(sql) -%}
        {%- endif -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "bqml_run_features is not enabled: run with a bigquery target and "
            ~ "--vars '{apoa_scorer: vertex}'"
        ) }}
    {%- endfor -%}
{% endmacro %}
