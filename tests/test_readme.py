"""Every README command that reads only files of the repository (or the shared synthetic
vignettes beside it) runs as written, and the README's Python snippets run too."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
README = REPO / "README.md"
RCCNAV = Path(sys.executable).with_name("rccnav")
PREFIXES = ("rccnav ", ".venv/bin/rccnav ")
#: Subcommands not run here, and why (each has its own tests).
NOT_RUN = {
    "serve": "a long-running server (tests/adapters/service)",
    "web": "a long-running server (tests/adapters/web)",
    "cohort": "reads an export made by an earlier command (tests/adapters/cohort)",
    "feedback": "needs a feedback database written by a running service",
}
_FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(README.read_text()) if lang == language]


def _commands() -> list[str]:
    commands: list[str] = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            if line.startswith(PREFIXES):
                commands.append(line)
    return commands


def _runnable(command: str) -> tuple[list[str] | None, str]:
    """The argv to run, or None and why not."""
    words = shlex.split(command, comments=True)
    subcommand = words[1] if len(words) > 1 else ""
    if subcommand in NOT_RUN:
        return None, NOT_RUN[subcommand]
    for word in words[1:]:
        looks_like_file = "/" in word or word.endswith((".json", ".yaml", ".toml"))
        if looks_like_file and word.startswith("../shared/") and not SHARED.is_dir():
            return None, "../shared is not present"
        written = words[words.index(word) - 1] in {"--output", "--out"}
        if looks_like_file and not written and not (REPO / word).exists():
            return None, f"{word} is not a file of the repository"
    if "--output" in words and words[words.index("--output") + 1].endswith(".pdf"):
        from rccnav.adapters.web.pdf import find_chromium

        if find_chromium() is None:
            return None, "a PDF needs Chromium"
    return [str(RCCNAV), *words[1:]], ""


COMMANDS = _commands()


def test_the_readme_has_commands_to_check() -> None:
    assert len(COMMANDS) >= 8
    runnable = [c for c in COMMANDS if _runnable(c)[0] is not None]
    assert len(runnable) >= 6, [(_runnable(c)[1], c) for c in COMMANDS]


def test_no_placeholder_file_names() -> None:
    # Every file a runnable-looking command names exists (or is written by it).
    for command in COMMANDS:
        _, why = _runnable(command)
        assert "is not a file of the repository" not in why, command


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs_as_written(command: str, tmp_path: Path) -> None:
    argv, why = _runnable(command)
    if argv is None:
        pytest.skip(why)
    # Outputs go to a scratch folder; inputs are read from the repository as written.
    argv = [
        str(tmp_path / Path(word).name) if previous in {"--output", "--out"} else word
        for previous, word in zip(["", *argv[:-1]], argv, strict=True)
    ]
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        argv, cwd=REPO, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert done.returncode == 0, (command, done.stderr[-2000:])
    assert done.stdout or any(tmp_path.iterdir()), command


@pytest.mark.parametrize("snippet", _blocks("python"))
def test_readme_python_snippet_runs(snippet: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    exec(compile(snippet, "README.md", "exec"), {})  # the README's own code
