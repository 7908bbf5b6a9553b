{#- A job's runs-on labels as one comparable text: '["self-hosted", "gpu"]' -> 'self-hosted,gpu'
    (a runner pool's name, a security signal's label set). -#}
{% macro runner_label(runner_labels) -%}
    translate({{ runner_labels }}, '[]" ', '')
{%- endmacro %}
