"""Suite-wide settings: the shared clinical fixtures must be present in CI, and CI runs
hypothesis deterministically (developers' runs stay random to keep finding new cases)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# The compiled knowledge-base cache of a test run (and of the CLIs it starts) stays out of
# the developer's own ~/.cache.
os.environ.setdefault("RCCNAV_CACHE_DIR", tempfile.mkdtemp(prefix="rccnav-test-cache-"))

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
if os.environ.get("CI"):
    settings.load_profile("ci")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Tests that read ../shared skip when it is absent on a developer's machine; in CI
    # that would hide the vignettes and external fixtures, so it is an error there.
    if os.environ.get("CI") and not (SHARED / "vignettes").is_dir():
        raise pytest.UsageError(f"CI run without the shared fixtures at {SHARED}")
