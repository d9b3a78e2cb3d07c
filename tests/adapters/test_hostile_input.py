"""Hostile input: every file of the generated corpus is refused with a message.

Defect class (issue 7 item 6): input that exhausts memory, the stack or time (alias
bombs, deep nesting, huge numbers, endless devices, FIFOs). The CLI runs in a child
process under an address-space limit (``RLIMIT_AS``) and a wall-clock bound; a hang or
a memory blow-up fails the test instead of the machine. Timings are measured in
``benchmarks/bench_hostile.py``, not asserted here.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

from .hostile import SPECIAL, STDIN, Hostile, corpus, special_paths

#: Address space for the child: the CLI needs ~300 MB; the alias bomb took 3 GB.
MEMORY_LIMIT = 512 * 1024 * 1024
#: A hang guard for the whole corpus (dozens of items), not a timing assertion.
WALL_LIMIT = 240

_RUNNER = r"""
import contextlib, io, json, sys, time
from rccnav.adapters.cli import main
results = []
for case in json.loads(sys.argv[1]):
    err = io.StringIO()
    started = time.perf_counter()
    stdin = None
    if case["stdin"] is not None:
        stdin = open(case["stdin"], "rb")
        sys.stdin = io.TextIOWrapper(stdin)
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            rc = main(["assess", case["arg"], "--on", "2026-11-01", "--format", "json"])
        except MemoryError:
            rc = "MemoryError"
    if stdin is not None:
        stdin.close()
    results.append({"name": case["name"], "rc": rc, "stderr": err.getvalue(),
                    "seconds": time.perf_counter() - started})
print(json.dumps(results))
"""


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(items: list[Hostile], tmp: Path) -> dict[str, dict[str, object]]:
    """Run ``rccnav assess`` on each item in one bounded child process."""
    cases = []
    for number, item in enumerate(items):
        if item.how == SPECIAL:
            cases.append({"name": item.name, "arg": item.name, "stdin": None})
            continue
        path = tmp / f"{number:02d}-{item.name}"
        path.write_bytes(item.data)
        if item.how == STDIN:
            cases.append({"name": item.name, "arg": "-", "stdin": str(path)})
        else:
            cases.append({"name": item.name, "arg": str(path), "stdin": None})
    done = subprocess.run(
        [sys.executable, "-c", _RUNNER, json.dumps(cases)],
        capture_output=True,
        timeout=WALL_LIMIT,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    return {r["name"]: r for r in json.loads(done.stdout)}


def test_every_hostile_file_is_refused_by_the_cli(tmp_path: Path) -> None:
    cases = [*corpus(), *special_paths(tmp_path)]
    results = run_cli(cases, tmp_path)
    failures = []
    for item in cases:
        result = results[item.name]
        message = str(result["stderr"])
        if (
            result["rc"] != 2
            or "internal error" in message
            or "Traceback" in message
            or item.expect.lower() not in message.lower()
        ):
            failures.append((item.name, result["rc"], message[:300]))
    assert not failures, failures


def test_endless_stdin_is_cut_off(tmp_path: Path) -> None:
    runner = _RUNNER.replace('open(case["stdin"], "rb")', 'open("/dev/zero", "rb")')
    cases = [{"name": "zero", "arg": "-", "stdin": "/dev/zero"}]
    done = subprocess.run(
        [sys.executable, "-c", runner, json.dumps(cases)],
        capture_output=True,
        timeout=WALL_LIMIT,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    (result,) = json.loads(done.stdout)
    assert result["rc"] == 2
    assert "too large" in result["stderr"]


def test_the_cli_binary_refuses_an_alias_bomb_and_a_fifo(tmp_path: Path) -> None:
    """End to end through the installed ``rccnav`` script, as a user runs it."""
    bomb = tmp_path / "bomb.yaml"
    bomb.write_bytes(next(i for i in corpus() if i.name == "alias-bomb.yaml").data)
    fifo = special_paths(tmp_path)[1].name
    script = Path(sys.executable).with_name("rccnav")
    for target in (str(bomb), fifo):
        done = subprocess.run(
            [str(script), "assess", target],
            capture_output=True,
            timeout=60,
            preexec_fn=_limit_memory,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert b"internal error" not in done.stderr
        assert target.encode() in done.stderr
