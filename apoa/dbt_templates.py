"""Reuse dbt's compiled Jinja code across invocations in the warehouse owner.

dbt turns each model's Jinja source into Python code anew every time it compiles the model
(macros it caches; model bodies it does not). `apoa watch` runs the same ~30 models every
few seconds, so that work is repeated each batch: about 0.2 s of a 2.4 s micro-batch, measured
with `benchmarks/micro_batch.py`. The generated code depends only on the source text and
the environment's class and extensions (the context and the undefined-handling are bound when
the template renders), so it is kept per (class, extensions, source, name).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from types import CodeType

MAX_TEMPLATES = 1024

_lock = threading.Lock()
_cache: OrderedDict[tuple, CodeType] = OrderedDict()
_installed = False


def install() -> None:
    """Patch dbt's Jinja environment class once per process."""
    global _installed
    from dbt_common.clients.jinja import MacroFuzzEnvironment

    with _lock:
        if _installed:
            return
        compile_uncached = MacroFuzzEnvironment.compile

        def compile_cached(self, source, name=None, filename=None, raw=False, defer_init=False):
            if raw or not isinstance(source, str):
                return compile_uncached(self, source, name, filename, raw, defer_init)
            key = (type(self), tuple(sorted(self.extensions)), source, name, filename, defer_init)
            with _lock:
                code = _cache.get(key)
                if code is not None:
                    _cache.move_to_end(key)
                    return code
            code = compile_uncached(self, source, name, filename, raw, defer_init)
            with _lock:
                _cache[key] = code
                while len(_cache) > MAX_TEMPLATES:
                    _cache.popitem(last=False)
            return code

        MacroFuzzEnvironment.compile = compile_cached
        _installed = True


def cached_templates() -> int:
    return len(_cache)


def clear() -> None:
    with _lock:
        _cache.clear()
