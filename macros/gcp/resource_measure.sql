{#-
    What a Cloud Monitoring metric type measures, for fct_job_run_resources. Each entry:
    metric type -> (measure, scale), where the value times `scale` is in the mart's unit
    (utilization as a 0-1 fraction, memory in bytes). Override with var
    `apoa_resource_metric_types` (same shape) to add the types your runners report.
-#}
{% macro apoa_resource_metric_types() -%}
    {{ return(var('apoa_resource_metric_types', {
        'custom.googleapis.com/apoa/runner/cpu_utilization': ['cpu_utilization', 1],
        'custom.googleapis.com/apoa/runner/memory_utilization': ['memory_utilization', 1],
        'custom.googleapis.com/apoa/runner/memory_used_bytes': ['memory_used_bytes', 1],
        'compute.googleapis.com/instance/cpu/utilization': ['cpu_utilization', 1],
        'agent.googleapis.com/cpu/utilization': ['cpu_utilization', 0.01],
        'agent.googleapis.com/memory/percent_used': ['memory_utilization', 0.01],
        'kubernetes.io/container/cpu/limit_utilization': ['cpu_utilization', 1],
        'kubernetes.io/container/memory/limit_utilization': ['memory_utilization', 1],
        'kubernetes.io/container/memory/used_bytes': ['memory_used_bytes', 1],
    })) }}
{%- endmacro %}

{#- part = 'measure' (cpu_utilization, memory_utilization, memory_used_bytes) or 'scale'. -#}
{% macro resource_measure(metric_type, part='measure') -%}
    case {{ metric_type }}
        {%- for type_name, measure in apoa_resource_metric_types().items() %}
            when '{{ type_name }}' then {{ ("'" ~ measure[0] ~ "'") if part == 'measure' else measure[1] }}
        {%- endfor %}
    end
{%- endmacro %}
