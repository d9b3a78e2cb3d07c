"""Server time of the clinician page, beside the bare ``assess()`` it wraps.

Run: ``python benchmarks/bench_web.py`` (options: ``--calls``, ``--browser``).

For the shared vignettes (synthetic FHIR patients, read once into form maps):

- floor: ``assess()`` alone on the same Cases, in the same run;
- update, in-process: what one ``POST api/assess`` does on the server (form map -> Case
  validation -> ``assess`` -> results and summary HTML), timed without HTTP;
- update over ASGI: the same request through the app (Starlette TestClient, guard
  middleware included) -- an upper bound on server time;
- first page: ``GET /`` (empty-case assessment and the whole form rendered);
- intake: ``POST api/intake`` of one Bundle (read + fill the form);
- with ``--browser`` and Debian's Chromium: time from navigation to the results being
  on screen (first render), median of 5 fresh browser contexts.

Targets (issue 10): first render < 1 s, each update < 100 ms server time. A benchmark, not
a test: it reports, it never asserts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

VIGNETTES = Path(__file__).resolve().parents[2] / "shared" / "vignettes"
TODAY = date(2026, 12, 1)


def _timed(fn: Callable[[], Any], calls: int) -> dict[str, float]:
    for _ in range(min(20, calls)):
        fn()
    samples = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return {
        "p50_ms": round(samples[len(samples) // 2], 3),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 3),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1], 3),
        "max_ms": round(samples[-1], 3),
    }


def _cycle(items: list[Any], fn: Callable[[Any], Any]) -> Callable[[], Any]:
    state = {"i": 0}

    def call() -> Any:
        item = items[state["i"] % len(items)]
        state["i"] += 1
        return fn(item)

    return call


def _browser_first_render(url: str, runs: int = 5) -> dict[str, float] | None:
    if not Path("/usr/bin/chromium").exists():
        return None
    from playwright.sync_api import sync_playwright

    samples = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        for _ in range(runs):
            context = browser.new_context()
            page = context.new_page()
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector('[data-testid="imdc-group"]', state="visible")
            samples.append((time.perf_counter() - start) * 1000)
            context.close()
        browser.close()
    return {"median_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--browser", action="store_true", help="also time the first render")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from rccnav.adapters.intake import assess_input, read_input
    from rccnav.adapters.web.app import COOKIE, _intake, create_web_app
    from rccnav.adapters.web.form import case_to_form, form_to_case
    from rccnav.adapters.web.views import Views
    from rccnav.core.assess import assess
    from rccnav.knowledge.loader import default_knowledge_base

    kb = default_knowledge_base()
    views = Views(kb)
    paths = sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))
    if not paths:
        sys.exit(f"no vignettes at {VIGNETTES}")
    cases = []
    forms = []
    for path in paths:
        on = date.fromisoformat(json.loads(path.with_suffix(".expected.json").read_text())["on"])
        case = read_input(path.read_bytes(), name=path.name, on=on).case
        case = case.model_copy(update={"assessment_date": on})
        cases.append(case)
        forms.append(case_to_form(case)[0])

    def server_update(form: dict[str, Any]) -> None:
        checked = form_to_case(form, TODAY)
        assert checked.case is not None
        on = checked.case.assessment_date or TODAY
        assessment = assess_input(_intake(checked.case, None), kb, on)
        views.results(assessment)
        views.summary(assessment, TODAY)

    token = "bench"
    client = TestClient(create_web_app(kb, token), base_url="http://127.0.0.1:8765")
    client.cookies.set(COOKIE, token)
    bundle = paths[0].read_bytes()
    results: dict[str, Any] = {
        "vignettes": len(paths),
        "floor_assess": _timed(
            _cycle(cases, lambda c: assess(c, kb, c.assessment_date)), args.calls * 5
        ),
        "update_in_process": _timed(_cycle(forms, server_update), args.calls),
        "update_over_asgi": _timed(
            _cycle(forms, lambda f: client.post("/api/assess", json={"form": f})), args.calls
        ),
        "first_page_get": _timed(lambda: client.get("/"), max(20, args.calls // 5)),
        "intake_bundle": _timed(
            lambda: client.post("/api/intake?on=2026-11-01", content=bundle),
            max(20, args.calls // 5),
        ),
    }
    floor = results["floor_assess"]["p50_ms"]
    results["update_over_floor_p50"] = round(results["update_in_process"]["p50_ms"] / floor, 1)
    if args.browser:
        process = subprocess.Popen(
            [sys.executable, "-m", "rccnav.adapters.cli", "web", "--no-browser", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            results["browser_first_render"] = _browser_first_render(url)
        finally:
            process.terminate()
            process.wait(timeout=10)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
