{#-
    A subquery of the integers 0 .. upper_bound (at most 999) in one column `n`: three
    cross-joined digit lists, portable to every warehouse (no generate_series / unnest).
-#}
{% macro integers(upper_bound) -%}
    {%- set digits -%}
        (select 0 as digit union all select 1 union all select 2 union all select 3
            union all select 4 union all select 5 union all select 6 union all select 7
            union all select 8 union all select 9)
    {%- endset -%}
    (
        select ones.digit + 10 * tens.digit + 100 * hundreds.digit as n
        from {{ digits }} as ones
        cross join {{ digits }} as tens
        cross join {{ digits }} as hundreds
        where ones.digit + 10 * tens.digit + 100 * hundreds.digit <= {{ upper_bound }}
    )
{%- endmacro %}

{#-
    ln C(n, j) for 0 <= j <= n <= upper_bound, as a subquery (n, j, log_choose): from log
    factorials summed over the integers, so exact binomial probabilities need no lgamma
    (which BigQuery lacks).
-#}
{% macro log_binomial_coefficients(upper_bound) -%}
    (
        select
            total.n,
            chosen.n as j,
            total.log_factorial - chosen.log_factorial - rest.log_factorial as log_choose
        from (
            select
                n,
                sum(case when n > 0 then ln(n) else 0 end) over (
                    order by n rows between unbounded preceding and current row
                ) as log_factorial
            from {{ integers(upper_bound) }} as numbers
        ) as total
        inner join (
            select
                n,
                sum(case when n > 0 then ln(n) else 0 end) over (
                    order by n rows between unbounded preceding and current row
                ) as log_factorial
            from {{ integers(upper_bound) }} as numbers
        ) as chosen
            on chosen.n <= total.n
        inner join (
            select
                n,
                sum(case when n > 0 then ln(n) else 0 end) over (
                    order by n rows between unbounded preceding and current row
                ) as log_factorial
            from {{ integers(upper_bound) }} as numbers
        ) as rest
            on rest.n = total.n - chosen.n
    )
{%- endmacro %}
