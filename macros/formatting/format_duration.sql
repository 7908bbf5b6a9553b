{#- Seconds as a short human string: '45s', '5m 40s', '1h 02m 03s' (portable SQL). -#}
{% macro format_duration(seconds_expr) -%}
    {%- set total = "cast(round(" ~ seconds_expr ~ ") as " ~ dbt.type_bigint() ~ ")" -%}
    {%- set text = dbt.type_string() -%}
    {%- set whole_hours = "cast(floor(" ~ total ~ " / 3600) as " ~ dbt.type_bigint() ~ ")" -%}
    {%- set whole_minutes = "cast(floor(" ~ total ~ " / 60) as " ~ dbt.type_bigint() ~ ")" -%}
    case
        when {{ seconds_expr }} is null then null
        when {{ total }} >= 3600
            then concat(
                cast({{ whole_hours }} as {{ text }}), 'h ',
                lpad(cast(mod({{ whole_minutes }}, 60) as {{ text }}), 2, '0'), 'm ',
                lpad(cast(mod({{ total }}, 60) as {{ text }}), 2, '0'), 's'
            )
        when {{ total }} >= 60
            then concat(
                cast({{ whole_minutes }} as {{ text }}), 'm ',
                lpad(cast(mod({{ total }}, 60) as {{ text }}), 2, '0'), 's'
            )
        else concat(cast({{ total }} as {{ text }}), 's')
    end
{%- endmacro %}

{#- A non-negative number rounded to one decimal as text: 2.5 -> '2.5', 3 -> '3.0'. -#}
{% macro format_decimal(expr) -%}
    {%- set tenths = "cast(round(" ~ expr ~ " * 10) as " ~ dbt.type_bigint() ~ ")" -%}
    {%- set text = dbt.type_string() -%}
    concat(
        cast(cast(floor({{ tenths }} / 10) as {{ dbt.type_bigint() }}) as {{ text }}), '.',
        cast(mod({{ tenths }}, 10) as {{ text }})
    )
{%- endmacro %}
