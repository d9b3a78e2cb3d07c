"""Fixtures for the knowledge-base tests: the bundled KB and an editable copy of its files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rccnav.knowledge.loader import default_data_dir, default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return default_knowledge_base()


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A private copy of the knowledge-base data directory to corrupt."""
    target = tmp_path / "data"
    shutil.copytree(default_data_dir(), target)
    return target
