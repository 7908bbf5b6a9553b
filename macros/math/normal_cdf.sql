{#-
    Standard normal CDF of `expr`, portable SQL: the logistic approximation
    1 / (1 + exp(-(0.07056 z^3 + 1.5976 z))) (Bowling et al., 2009; max error 1.4e-4).
    z is clamped to [-8, 8] so exp() never overflows.
-#}
{% macro normal_cdf(expr) -%}
    (1.0 / (1.0 + exp(-(0.07056 * pow(least(greatest({{ expr }}, -8.0), 8.0), 3)
        + 1.5976 * least(greatest({{ expr }}, -8.0), 8.0)))))
{%- endmacro %}
