"""Suite-wide settings: the shared clinical fixtures must be present in CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Tests that read ../shared skip when it is absent on a developer's machine; in CI
    # that would hide the vignettes and external fixtures, so it is an error there.
    if os.environ.get("CI") and not (SHARED / "vignettes").is_dir():
        raise pytest.UsageError(f"CI run without the shared fixtures at {SHARED}")
