{#-
    Switches that each turn one delivery guarantee of the models off, as ingest/unsafe.py does
    for ingest: the fault tests (tests/test_delivery_faults.py) run once more with a switch on
    and must then fail, which proves they can. Never set them anywhere else.

        APOA_UNSAFE_KEEP_EVERY_DELIVERY_COPY=1  a GitHub delivery re-sent under a new message id
                                                counts as a new delivery
        APOA_UNSAFE_LATEST_BY_ARRIVAL=1         the last delivery to arrive is a job's state
-#}
{% macro apoa_unsafe(switch) -%}
    {{- return(env_var('APOA_UNSAFE_' ~ switch, '') == '1') -}}
{%- endmacro %}

