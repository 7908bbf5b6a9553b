{#-
    Band joins: the rows of a series whose position lies in a short range near another row's,
    e.g. the W points before each point. An equality on the series alone makes the hash join
    compare every pair of points in a series: harmless for a job's few hundred runs, quadratic
    for a runner pool that holds most of the history (849,660 points at 1M job runs: the
    queue scorer's full build had not ended after 20 minutes). A range of at most `width`
    positions starting at `scored_position + low` lies in the block (floor(position / width))
    of its start or the next, so the other side is read twice, once under each point's own
    block and once under the block before, and the join is an equality on (series, block);
    the range conditions stay as they were and each pair still meets once.

        from points as scored
        inner join {{ apoa_band_rows('points', 'series_position', 50) }} as history
            on
                scored.series_key = history.series_key
                and history.band_block = {{ apoa_band_block('scored.series_position', -50, 50) }}
                and history.series_position < scored.series_position
                and history.series_position >= scored.series_position - 50

    (A cross join with two probe rows on the scored side reads less, but DuckDB's optimizer
    then joins on the series alone and filters the blocks afterwards.)
-#}
{% macro apoa_band_rows(relation, position, width) -%}
    {%- if width | int < 1 -%}
        {{ exceptions.raise_compiler_error('apoa_band_rows needs a width of at least 1, got ' ~ width) }}
    {%- endif -%}
    (
        select
            *,
            {{ _apoa_block(position, width) }} as band_block
        from {{ relation }}
        union all
        select
            *,
            {{ _apoa_block(position, width) }} - 1 as band_block
        from {{ relation }}
    )
{%- endmacro %}

{% macro apoa_band_block(scored_position, low, width) -%}
    {{ _apoa_block('(' ~ scored_position ~ ' + (' ~ low ~ '))', width) }}
{%- endmacro %}

{% macro _apoa_block(position, width) -%}
    cast(floor({{ position }} / {{ width }}) as {{ dbt.type_bigint() }})
{%- endmacro %}
