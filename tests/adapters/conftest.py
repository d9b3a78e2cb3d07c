"""Shared fixtures for the adapter tests: example files, the knowledge base, file writers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
VIGNETTES = REPO.parent / "shared" / "vignettes"


@pytest.fixture
def write_case(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a case file under tmp_path and return its path."""

    def write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    return write


@pytest.fixture(scope="session")
def kb():  # type: ignore[no-untyped-def]
    from rccnav.knowledge.loader import default_knowledge_base

    return default_knowledge_base()


@pytest.fixture(scope="session")
def example_paths() -> list[Path]:
    paths = sorted(EXAMPLES.glob("*.yaml"))
    assert len(paths) >= 3, "examples/ should hold at least three case files"
    return paths
