"""The owner's cache of dbt's compiled Jinja code: reused per source, never mixing contexts."""

from __future__ import annotations

from dbt_common.clients.jinja import get_environment

from apoa import dbt_templates


def _render(source: str, **context) -> str:
    env = get_environment()
    return env.from_string(source, globals=context).render(context)


def test_a_source_is_compiled_once_and_each_render_gets_its_own_context():
    dbt_templates.install()
    dbt_templates.install()  # idempotent: a second install must not wrap the wrapper
    dbt_templates.clear()  # other tests in this process may have filled it
    source = "select {{ column }} from {{ table }} -- apoa template cache test"
    before = dbt_templates.cached_templates()
    assert _render(source, column="a", table="t1") == "select a from t1 -- apoa template cache test"
    after_first = dbt_templates.cached_templates()
    assert after_first == before + 1
    assert _render(source, column="b", table="t2") == "select b from t2 -- apoa template cache test"
    assert dbt_templates.cached_templates() == after_first
    assert _render(source + " ", column="c", table="t3").startswith("select c from t3")
    assert dbt_templates.cached_templates() == after_first + 1
