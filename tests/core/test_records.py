"""quick_init: the faster __init__ behaves exactly like the frozen dataclass's own."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from rccnav.core import assessment, baseline
from rccnav.core.records import quick_init


@dataclass(frozen=True, slots=True)
class _Plain:
    name: str
    value: float = 1.0
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class _Quick:
    name: str
    value: float = 1.0
    tags: tuple[str, ...] = ()
    extra: dict[str, int] = field(default_factory=dict)


def _as_plain(record: _Quick) -> _Plain:
    return _Plain(**{f.name: getattr(record, f.name) for f in dataclasses.fields(record)})


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (("a",), {}),
        (("a", 2.5), {}),
        (("a",), {"tags": ("x",), "extra": {"k": 1}}),
        ((), {"name": "b", "value": 0.0}),
    ],
)
def test_same_values_as_the_dataclass_init(
    args: tuple[object, ...], kwargs: dict[str, object]
) -> None:
    quick, plain = _Quick(*args, **kwargs), _Plain(*args, **kwargs)  # type: ignore[arg-type]
    assert _as_plain(quick) == plain
    assert type(quick) is _Quick
    assert repr(quick) == repr(plain).replace("_Plain", "_Quick")


def test_same_signature_as_the_dataclass_init() -> None:
    quick = inspect.signature(_Quick.__init__).parameters
    plain = inspect.signature(_Plain.__init__).parameters
    assert [(p.name, p.kind) for p in quick.values()] == [(p.name, p.kind) for p in plain.values()]
    for name in ("value", "tags"):
        assert quick[name].default == plain[name].default


def test_missing_and_unknown_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        _Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        _Quick("a", unknown=1)  # type: ignore[call-arg]


def test_stays_frozen_hashable_comparable_and_picklable() -> None:
    record = _Quick("a", 2.0, ("t",))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "b"  # type: ignore[misc]
    assert record == _Quick("a", 2.0, ("t",)) and record != _Quick("a", 3.0, ("t",))
    reason = assessment.Reason("text", "rule", ("source",), "verified")
    assert hash(reason) == hash(assessment.Reason("text", "rule", ("source",), "verified"))
    assert dataclasses.replace(record, value=5.0) == _Quick("a", 5.0, ("t",))
    assert pickle.loads(pickle.dumps(record)) == record
    assert not hasattr(record, "__dict__")


def test_each_instance_gets_its_own_default_factory_value() -> None:
    first, second = _Quick("a"), _Quick("b")
    assert first.extra == {} and first.extra is not second.extra


def test_a_subclass_takes_the_ordinary_path() -> None:
    @dataclass(frozen=True, slots=True)
    class Child(_Quick):
        more: int = 0

    child = Child("a", more=3)
    assert type(child) is Child and (child.name, child.more) == ("a", 3)
    parent = _Quick.__init__
    plain_child = object.__new__(Child)
    parent(plain_child, "z")  # the inherited quick __init__ on a subclass instance
    assert type(plain_child) is Child and plain_child.name == "z"


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclass(slots=True)
    class Mutable:
        name: str

    with pytest.raises(TypeError):
        quick_init(Mutable)

    @dataclass(frozen=True)
    class NoSlots:
        name: str

    with pytest.raises(TypeError):
        quick_init(NoSlots)

    @dataclass(frozen=True, slots=True)
    class PostInit:
        name: str

        def __post_init__(self) -> None:
            pass

    with pytest.raises(TypeError):
        quick_init(PostInit)


@pytest.mark.parametrize(
    "cls", [assessment.Reason, assessment.Factor, assessment.Assessment, baseline.LabValue]
)
def test_core_records_use_it_and_keep_their_fields(cls: type) -> None:
    assert cls.__init__.__code__.co_filename == "<string>"  # built by quick_init
    names = [p for p in inspect.signature(cls).parameters]
    assert names == [f.name for f in dataclasses.fields(cls)]
