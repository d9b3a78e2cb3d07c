"""`rccnav` as a program: the same answers as main(), with its start-up tuning contained.

The program (console script ``rccnav``, ``python -m rccnav``) reuses the compiled code of
dataclass methods from earlier runs and freezes what start-up loaded; neither may change
an output or reach a process that only imports rccnav.
"""

from __future__ import annotations

import builtins
import dataclasses
import marshal
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

from rccnav.adapters import program

from .conftest import EXAMPLES, VIGNETTES

EXAMPLE = EXAMPLES / "intermediate-risk-clear-cell.yaml"


def _run(argv: list[str], env: dict[str, str]) -> tuple[int, bytes, bytes]:
    done = subprocess.run(argv, capture_output=True, env={"PATH": "/usr/bin:/bin", **env})
    return done.returncode, done.stdout, done.stderr


def _cases(tmp_path: Path) -> list[list[str]]:
    bad = tmp_path / "bad.yaml"
    bad.write_text("case_id: x\nlabs: {hemoglobin: {value: high, unit: g/dL}}\n")
    cases = [
        ["assess", str(EXAMPLE), "--on", "2026-11-01"],
        ["assess", str(EXAMPLE), "--on", "2026-11-01", "--format", "json"],
        ["assess", str(bad)],  # exit 2, naming the field
        ["risk", "--kps", "70", "--hb-low"],
        ["--version"],
    ]
    if VIGNETTES.is_dir():
        vignette = str(VIGNETTES / "p03-poor.json")
        cases.append(["assess", vignette, "--on", "2026-11-01", "--format", "json"])
    return cases


def test_the_program_answers_exactly_as_main_with_a_cold_a_warm_and_no_code_cache(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    for argv in _cases(tmp_path):
        reference = _run([sys.executable, "-m", "rccnav.adapters.cli", *argv], {})
        runs = [
            _run([sys.executable, "-m", "rccnav", *argv], {"RCCNAV_CACHE_DIR": str(cache)}),
            _run([sys.executable, "-m", "rccnav", *argv], {"RCCNAV_CACHE_DIR": str(cache)}),
            _run([sys.executable, "-m", "rccnav", *argv], {"RCCNAV_NO_CACHE": "1"}),
        ]
        for result in runs:
            assert result == reference, argv
    assert reference[0] == 0 and runs[0][1]
    assert list(cache.glob("compiled-code-*.marshal"))


def test_a_warm_program_compiles_no_dataclass_method(tmp_path: Path) -> None:
    env = {"RCCNAV_CACHE_DIR": str(tmp_path)}
    counting = (
        "import builtins, sys; made = []; real = builtins.compile\n"
        "def compile(*a, **k):\n"
        "    made.append(a[0]) if isinstance(a[0], str) and 'def __create_fn__' in a[0] else None\n"
        "    return real(*a, **k)\n"
        "builtins.compile = compile\n"
        f"sys.argv = ['rccnav', 'assess', {str(EXAMPLE)!r}, '--on', '2026-11-01']\n"
        "from rccnav.adapters.program import run\n"
        "try:\n    run()\nexcept SystemExit:\n    sys.stderr.write(str(len(made)))\n"
    )
    cold = _run([sys.executable, "-c", counting], env)
    warm = _run([sys.executable, "-c", counting], env)
    assert int(cold[2]) > 100  # every dataclass method compiled once
    assert int(warm[2]) == 0  # and reused the next time


def test_a_warm_program_compiles_no_forward_reference(tmp_path: Path) -> None:
    env = {"RCCNAV_CACHE_DIR": str(tmp_path)}
    counting = (
        "import sys, typing; made = []; real = typing.ForwardRef.__init__\n"
        "def init(self, arg, *a, **k):\n"
        "    made.append(arg); real(self, arg, *a, **k)\n"
        "typing.ForwardRef.__init__ = init\n"
        "import builtins; compiled = []; real_compile = builtins.compile\n"
        "def compile(*a, **k):\n"
        "    compiled.append(a[0]) if len(a) > 2 and a[2] == 'eval' else None\n"
        "    return real_compile(*a, **k)\n"
        "builtins.compile = compile\n"
        f"sys.argv = ['rccnav', 'assess', {str(EXAMPLE)!r}, '--on', '2026-11-01']\n"
        "from rccnav.adapters.program import run\n"
        "try:\n    run()\nexcept SystemExit:\n"
        "    sys.stderr.write(f'{len(made)} {len(compiled)}')\n"
    )
    cold = _run([sys.executable, "-c", counting], env)[2].split()
    warm = _run([sys.executable, "-c", counting], env)[2].split()
    assert int(cold[0]) > 100 and int(cold[1]) > 100  # annotations resolved and compiled
    assert int(warm[0]) == int(cold[0]) and int(warm[1]) == 0  # resolved, not compiled


def test_reused_forward_references_evaluate_as_compiled_ones(cache: Path) -> None:
    plain = typing.ForwardRef("dict[str, tuple[int, ...]] | None")
    with program.reused_code():
        cold = typing.ForwardRef("dict[str, tuple[int, ...]] | None")
    with program.reused_code():
        warm = typing.ForwardRef("dict[str, tuple[int, ...]] | None")
        with pytest.raises(SyntaxError):
            typing.ForwardRef("not ) an expression")
    assert plain.__forward_code__ == cold.__forward_code__ == warm.__forward_code__
    assert warm.__forward_code__.co_filename == plain.__forward_code__.co_filename
    assert eval(warm.__forward_code__) == dict[str, tuple[int, ...]] | None
    assert "compile" not in vars(typing)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RCCNAV_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("RCCNAV_NO_CACHE", raising=False)
    return tmp_path


def _record_class(name: str, last: str = "c") -> Any:
    """A frozen, slotted dataclass with defaults and a default factory, made afresh."""
    namespace: dict[str, Any] = {
        "__annotations__": {"a": "int", "b": "str", last: "list[int]"},
        "b": "x",
        last: dataclasses.field(default_factory=list),
        "__module__": __name__,
    }
    return dataclasses.dataclass(frozen=True, slots=True)(type(name, (), namespace))


def _method_code(cls: Any) -> dict[str, tuple[Any, str]]:
    names = ("__init__", "__repr__", "__eq__", "__hash__", "__setattr__", "__delattr__")
    # Code objects compare by their bytecode, constants, names and line table.
    return {
        name: (getattr(cls, name).__code__, getattr(cls, name).__code__.co_filename)
        for name in names
    }


def test_reused_code_makes_the_methods_plain_exec_makes(cache: Path) -> None:
    plain = _record_class("Record")
    with program.reused_code() as codes:
        cold = _record_class("Record")
    assert codes and list(cache.glob("compiled-code-*.marshal"))
    with program.reused_code() as again:
        assert again.keys() == codes.keys()
        warm = _record_class("Record")
    assert _method_code(cold) == _method_code(plain) == _method_code(warm)
    record = warm(1, c=[2])
    assert (record.a, record.b, record.c) == (1, "x", [2])
    assert repr(record) == "Record(a=1, b='x', c=[2])" and record == warm(1, "x", [2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.a = 2  # type: ignore[misc]


def test_a_changed_class_compiles_anew(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with program.reused_code():
        _record_class("Record")
    compiled: list[str] = []
    real_compile = builtins.compile

    def counting(source: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(source)
        return real_compile(source, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", counting)
    with program.reused_code():
        _record_class("Record")
        assert not compiled
        _record_class("Record", last="changed")  # a field renamed: new method texts
    assert compiled and all("changed" in text for text in compiled)


def test_the_code_cache_leaves_no_trace_and_survives_a_bad_file(cache: Path) -> None:
    with program.reused_code():
        pass
    assert "exec" not in vars(dataclasses)  # the builtin is dataclasses' exec again
    assert "compile" not in vars(typing)
    path = program._code_cache_path()
    assert path is not None
    path.write_bytes(b"\x00 not marshal data")
    with program.reused_code() as codes:
        assert codes == {}
        _record_class("Record")
    assert marshal.loads(path.read_bytes()).keys() == codes.keys()


def test_no_code_cache_when_caching_is_turned_off(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCCNAV_NO_CACHE", "1")
    with program.reused_code() as codes:
        _record_class("Record")
    assert codes and not list(cache.iterdir())


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ}
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_program_freezes_what_start_up_loaded() -> None:
    probe = (
        "import gc, sys; sys.argv = ['rccnav', 'schema', 'case']; "
        "from rccnav.adapters.program import run\n"
        "try:\n    run()\nexcept SystemExit:\n"
        "    print(gc.get_freeze_count() > 10000, gc.isenabled(), file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stderr.strip() == "True True"


def test_importing_rccnav_loads_nothing_until_used() -> None:
    loaded = _python(
        "import sys, rccnav; print(' '.join(m for m in ('pydantic.main', 'rccnav.core.case', "
        "'rccnav.adapters.intake') if m in sys.modules))"
    )
    assert loaded == ""
    assert _python("from rccnav import Case, assess, InputError; print(Case.__name__)") == "Case"
    assert _python("import rccnav, gc; print(gc.isenabled())") == "True"


def test_the_public_names_are_the_modules_own() -> None:
    import rccnav
    from rccnav.core.assess import assess
    from rccnav.core.case import Case

    assert rccnav.Case is Case and rccnav.assess is assess
    assert set(rccnav.__all__) <= set(dir(rccnav))
    with pytest.raises(AttributeError):
        rccnav.no_such_name  # noqa: B018
