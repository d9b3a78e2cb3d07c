"""A real ``rccnav web`` server and Debian's Chromium driven by Playwright.

``playwright install`` cannot download here, so the browser is the system's
``/usr/bin/chromium`` (``.ci/run`` installs it). Where it is missing the browser tests
skip on a developer's machine, but fail under CI or ``RCCNAV_REQUIRE_BROWSER=1``: a
browser test must never pass by not running.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("RCCNAV_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def _require_browser() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("RCCNAV_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def web_url() -> Iterator[str]:
    """Start ``rccnav web --no-browser --port 0``; its first output line is the URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "rccnav.adapters.cli", "web", "--no-browser", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first.startswith("http://127.0.0.1:"):
            process.kill()
            raise AssertionError(f"rccnav web printed {first!r}; stderr: {process.stderr}")
        yield first
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if _require_browser():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, web_url: str, tmp_path: Path) -> Iterator[Any]:
    """A fresh browser context (no stored form) on the page, screenshot kept at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    tab.goto(web_url)
    tab.wait_for_selector('[data-testid="imdc-group"]')
    yield tab
    tab.screenshot(path=str(tmp_path / "final.png"), full_page=True)
    context.close()
