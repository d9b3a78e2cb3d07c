"""Whole-process time of ``rccnav assess`` beside its import floor, measured in one run.

Run: ``python benchmarks/bench_cli.py [--runs 15]``.

The floor is a fresh interpreter importing what any such tool needs
(``python -c "import pydantic, orjson, yaml"``); the figure that counts on a noisy,
shared machine is the ratio of the medians, interleaved run by run so that load hits
both alike. Wall time and CPU time (user + system, from ``wait4``) are both reported:
CPU time is steadier when other work shares the cores. Bytecode is written, as in a
user's install (``PYTHONDONTWRITEBYTECODE`` is removed), and a warm-up run fills the
per-user caches first (compiled knowledge base and terminology, compiled dataclass
methods), as any second use of the command would. The command is the installed console
script ``rccnav`` (``python -m rccnav`` without one).

Target (issue: fast from the first call): each command within 3x the floor.
A benchmark, not a test: it reports, it never asserts.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIGNETTE = ROOT.parent / "shared" / "vignettes" / "p03-poor.json"
TARGET_RATIO = 3.0


def _program() -> list[str]:
    """The installed console script ``rccnav``, as a user runs it (else ``-m rccnav``)."""
    script = Path(sys.executable).parent / "rccnav"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "rccnav"]


def _commands() -> dict[str, list[str]]:
    python = sys.executable
    rccnav = _program()
    commands = {
        "floor: import pydantic, orjson, yaml": [python, "-c", "import pydantic, orjson, yaml"],
        # Context, not a target: what any program pays that validates with pydantic
        # models (BaseModel, and pydantic's plugin loader, which imports importlib.metadata).
        "(pydantic models: + BaseModel, metadata)": [
            python, "-c", "import pydantic, orjson, yaml, importlib.metadata; "
            "from pydantic import BaseModel",
        ],
        "rccnav assess case file (YAML)": [
            *rccnav, "assess", str(ROOT / "examples" / "intermediate-risk-clear-cell.yaml"),
        ],
        "rccnav assess FHIR Bundle": [
            *rccnav, "assess", str(VIGNETTE), "--on", "2026-11-01",
        ],
    }  # fmt: skip
    if not VIGNETTE.exists():
        del commands["rccnav assess FHIR Bundle"]
    return commands


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
    ])  # fmt: skip
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed with {status}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["RCCNAV_CACHE_DIR"] = tempfile.mkdtemp(prefix="rccnav-bench-cache-")
    commands = _commands()
    for argv in commands.values():  # warm-up: bytecode and the knowledge-base cache
        _run(argv, env)
    walls: dict[str, list[float]] = {label: [] for label in commands}
    cpus: dict[str, list[float]] = {label: [] for label in commands}
    for _ in range(args.runs):
        for label, argv in commands.items():
            wall, cpu = _run(argv, env)
            walls[label].append(wall)
            cpus[label].append(cpu)
    floor_label = next(iter(commands))
    floor_wall = statistics.median(walls[floor_label])
    floor_cpu = statistics.median(cpus[floor_label])
    machine = f"{platform.machine()} x {os.cpu_count()} cores"
    print(
        f"# rccnav CLI start-up, {args.runs} interleaved runs, {time.strftime('%Y-%m-%d')}, "
        f"{machine}, Python {platform.python_version()}"
    )
    print(f"{'command':<42} {'wall p50':>9} {'min':>7} {'ratio':>6} {'cpu p50':>8} {'ratio':>6}")
    for label in commands:
        wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
        print(
            f"{label:<42} {wall * 1000:7.0f}ms {min(walls[label]) * 1000:5.0f}ms "
            f"{wall / floor_wall:5.1f}x {cpu * 1000:6.0f}ms {cpu / floor_cpu:5.1f}x"
        )
    print(
        f"target: each rccnav command within {TARGET_RATIO:.0f}x the floor; "
        f"load average {os.getloadavg()[0]:.1f} at the end"
    )


if __name__ == "__main__":
    main()
