"""``rccnav`` run as a program: start-up tuning for a process that is rccnav's own.

Most of a single ``rccnav assess`` is start-up, and two costs of it belong to the
process rather than to rccnav's code:

- **Compiling generated code.** Python 3.11 writes each ``__init__``, ``__repr__``,
  ``__eq__``, ... of a dataclass as source text and compiles it when the class is
  created (about 70% of a class's 1 ms; a run creates some 90 dataclasses, rccnav's
  records and pydantic's own), and compiles every string annotation a pydantic model
  resolves (``typing.ForwardRef``; some 300). :func:`reused_code` keeps the compiled
  code of those texts in the per-user cache, beside the compiled knowledge base, and
  hands back the same code object the next time. Entries are keyed by the exact text
  and the bytecode version, so a changed class simply compiles anew, and the code is
  what ``compile`` makes of that text.
- **The cyclic GC** walking the hundred thousand long-lived objects that importing
  creates, again and again, while finding nothing to free. It is paused while the
  modules load, and what they loaded is then frozen (exempt from later collections).

None of this applies when rccnav is imported as a library or ``main()`` is called in
someone else's process (tests, the service's workers): only :func:`run`, the console
script ``rccnav`` and ``python -m rccnav`` do it. ``RCCNAV_NO_CACHE=1`` keeps the code
in memory only.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import gc
import importlib.util
import marshal
import sys
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any, NoReturn

from rccnav.knowledge.compiled_cache import cache_dir, store_bytes

Key = tuple[str, str]  # (compile mode, source text)

# Enough for every class and annotation rccnav and its libraries compile, with room to
# spare; a file grown past it (many edited classes) is started afresh.
_MAX_ENTRIES = 8192


def _code_cache_path() -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    # Code objects are only valid for the bytecode version that made them.
    version = importlib.util.MAGIC_NUMBER.hex()
    return folder / f"compiled-code-{sys.implementation.cache_tag}-{version}.marshal"


def _load(path: Path) -> dict[Key, CodeType]:
    try:
        stored = marshal.loads(path.read_bytes())
    except Exception:  # missing, truncated or from elsewhere: start empty
        return {}
    if type(stored) is not dict or len(stored) > _MAX_ENTRIES:
        return {}
    return stored  # entries are checked when used (_compiled)


def _compiled(codes: dict[Key, CodeType], source: str, mode: str) -> CodeType:
    code = codes.get((mode, source))
    if type(code) is not CodeType:
        # As exec(text) and typing compile it: file "<string>", none of our __future__
        # flags. A text that does not compile raises here, as it would have, and is
        # not stored.
        code = compile(source, "<string>", mode, dont_inherit=True)
        codes[(mode, source)] = code
    return code


def _reusing_exec(codes: dict[Key, CodeType]) -> Callable[..., None]:
    """``exec`` that compiles a source text once and reuses its code object."""
    real_exec = builtins.exec

    def exec_(source: Any, globals: Any = None, locals: Any = None, /, **options: Any) -> None:
        if type(source) is str:
            source = _compiled(codes, source, "exec")
        real_exec(source, globals, locals, **options)

    return exec_


def _reusing_compile(codes: dict[Key, CodeType]) -> Callable[..., Any]:
    """``compile`` that reuses the code of a forward reference's expression."""
    real_compile = builtins.compile

    def compile_(source: Any, filename: Any, mode: str, *args: Any, **options: Any) -> Any:
        # Only the call typing.ForwardRef makes; any other keeps the builtin's meaning.
        plain = not args and not options and filename == "<string>" and mode == "eval"
        if plain and type(source) is str:
            return _compiled(codes, source, "eval")
        return real_compile(source, filename, mode, *args, **options)

    return compile_


@contextlib.contextmanager
def reused_code(*records: ModuleType) -> Iterator[dict[Key, CodeType]]:
    """Within the block, dataclasses (and ``records``, modules that build methods the same
    way) and typing's forward references reuse code compiled in earlier runs; what was
    compiled anew is stored at the end."""
    path = _code_cache_path()
    codes = _load(path) if path is not None else {}
    known = len(codes)
    shadows: list[tuple[dict[str, Any], str, Any]] = [
        *((vars(module), "exec", _reusing_exec(codes)) for module in (dataclasses, *records)),
        (vars(typing), "compile", _reusing_compile(codes)),
    ]
    before = [namespace.get(name) for namespace, name, _ in shadows]
    for namespace, name, shadow in shadows:
        namespace[name] = shadow  # a module global shadows the builtin in that module
    try:
        yield codes
    finally:
        for (namespace, name, _), previous in zip(shadows, before, strict=True):
            if previous is None:
                namespace.pop(name, None)
            else:
                namespace[name] = previous
        if path is not None and len(codes) != known and len(codes) <= _MAX_ENTRIES:
            store_bytes(path, marshal.dumps(codes))


def run() -> NoReturn:
    """The console script ``rccnav`` (and ``python -m rccnav``)."""
    from rccnav.core import records  # builds a faster __init__ per record, with exec

    with reused_code(records):
        collecting = gc.isenabled()
        gc.disable()
        try:
            from rccnav.adapters.cli import main
        finally:
            # Loaded modules, classes and validators live as long as the process.
            gc.freeze()
            if collecting:
                gc.enable()
        status = main()
    sys.exit(status)
