"""A faster ``__init__`` for the frozen dataclasses ``assess()`` builds on every call.

A frozen dataclass sets each field in ``__init__`` through ``object.__setattr__`` (its own
``__setattr__`` refuses), a slot wrapper call of about a thousand machine instructions:
a nine-field record costs five times an unfrozen one, and ``assess()`` builds some 60
records per call (factors, reasons, limits, options). :func:`quick_init` gives the class
an ``__init__`` with the same signature, defaults and default factories that makes the
instance briefly a plain twin class with the same slots, stores the fields as ordinary
slot writes, and turns it back into the frozen class. The class stays a frozen, slotted
dataclass in every other respect (equality, hashing, ``repr``, ``replace``, pickling,
the JSON Schema), and an instance of a subclass takes the ordinary path.

Use it above the dataclass decorator, so type checkers still see a plain dataclass::

    @quick_init
    @dataclass(frozen=True, slots=True)
    class Reason: ...
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

T = TypeVar("T")

_NO_VALUE: Any = object()


def quick_init(cls: type[T]) -> type[T]:
    """Replace a frozen dataclass's ``__init__`` with an equivalent, faster one."""
    params = getattr(cls, dataclasses._PARAMS)  # type: ignore[attr-defined]
    if not dataclasses.is_dataclass(cls) or not params.frozen:
        raise TypeError(f"{cls.__name__} is not a frozen dataclass")
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} has __post_init__, which quick_init does not call")
    slots = tuple(cls.__dict__.get("__slots__", ()))
    # Same slots, no __setattr__ of its own: CPython allows swapping __class__ between them.
    twin = type(f"_Building{cls.__name__}", (), {"__slots__": slots})
    closure: dict[str, Any] = {
        "_set": object.__setattr__,
        "_NO_VALUE": _NO_VALUE,
        "_cls": cls,
        "_twin": twin,
    }
    signature: list[str] = []
    fast: list[str] = []
    body: list[str] = []
    for field in dataclasses.fields(cls):
        if not field.init or field.kw_only:
            raise TypeError(f"{cls.__name__}.{field.name}: only plain init fields are supported")
        name = field.name
        value = name
        if field.default is not dataclasses.MISSING:
            closure[f"_default_{name}"] = field.default
            signature.append(f"{name}=_default_{name}")
        elif field.default_factory is not dataclasses.MISSING:
            closure[f"_factory_{name}"] = field.default_factory
            signature.append(f"{name}=_NO_VALUE")
            value = f"_factory_{name}() if {name} is _NO_VALUE else {name}"
        else:
            signature.append(name)
        fast.append(f"        self.{name} = {value}")
        body.append(f"        _set(self, {name!r}, {value})")
    if set(slots) != {field.name for field in dataclasses.fields(cls)}:
        raise TypeError(f"{cls.__name__} must be a slotted dataclass")
    # The free variables of __init__ are the arguments of the maker: closure cells, the
    # fastest look-up CPython has short of a local.
    source = (
        f"def _make({', '.join(closure)}):\n"
        f"  def __init__(self, {', '.join(signature)}) -> None:\n"
        "    if type(self) is _cls:\n"
        "        _set(self, '__class__', _twin)\n"
        + "\n".join(fast)
        + "\n        self.__class__ = _cls\n"
        "    else:\n" + "\n".join(body or ["        pass"]) + "\n  return __init__\n"
    )
    namespace: dict[str, Any] = {}
    exec(source, {}, namespace)
    init = namespace["_make"](**closure)
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__module__ = cls.__module__
    init.__doc__ = cls.__init__.__doc__
    init.__annotations__ = dict(getattr(cls.__init__, "__annotations__", {}))
    cls.__init__ = init  # type: ignore[method-assign]
    return cls
