"""The page's HTTP surface: token and loopback guard, endpoints, static assets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rccnav.adapters.web import create_web_app
from rccnav.adapters.web.app import COOKIE, MAX_UPLOAD_BYTES
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import VIGNETTES

TOKEN = "test-token-not-secret"
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def app(kb: KnowledgeBase):  # type: ignore[no-untyped-def]
    return create_web_app(kb, TOKEN)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE) as c:
        c.cookies.set(COOKIE, TOKEN)
        yield c


@pytest.fixture
def anonymous(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        yield c


def test_page_needs_the_token_then_a_cookie(anonymous: TestClient) -> None:
    assert anonymous.get("/").status_code == 403
    assert anonymous.get("/?token=wrong").status_code == 403
    assert anonymous.post("/api/assess", json={"form": {}}).status_code == 403
    first = anonymous.get(f"/?token={TOKEN}")
    assert first.status_code == 303
    assert first.headers["location"] == "/"  # the token leaves the address bar
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = anonymous.get("/")
    assert page.status_code == 200
    assert 'data-testid="imdc-group"' in page.text


def test_requests_naming_another_host_are_refused(client: TestClient) -> None:
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends its own Host.
    assert client.get("/", headers={"host": "evil.example:8765"}).status_code == 403
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200


def test_cross_site_posts_are_refused(client: TestClient) -> None:
    refused = client.post(
        "/api/assess", json={"form": {}}, headers={"origin": "http://evil.example"}
    )
    assert refused.status_code == 403
    same = client.post("/api/assess", json={"form": {}}, headers={"origin": BASE})
    assert same.status_code == 200


def test_page_carries_the_test_ids_and_no_outside_asset(client: TestClient) -> None:
    page = client.get("/")
    for testid in (
        "assessment-date",
        "file-input",
        "imdc-group",
        "mskcc-group",
        "preferred",
        "warnings",
    ):
        assert f'data-testid="{testid}"' in page.text, testid
    assert "default-src 'self'" in page.headers["content-security-policy"]
    # Scripts and styles are the app's own (no CDN), and there is no inline script.
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert assets and all(not a.startswith(("http:", "https:", "//")) for a in assets)
    assert "<script>" not in page.text
    for asset in assets:
        assert client.get("/" + asset).status_code == 200


def test_static_serves_only_its_own_files(client: TestClient) -> None:
    assert client.get("/static/web.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/static/..%2Fapp.py").status_code == 404
    assert client.get("/static/app.py").status_code == 404


def test_assess_returns_fragments_or_problems_at_fields(client: TestClient) -> None:
    ok = client.post(
        "/api/assess",
        json={
            "form": {
                "assessment_date": "2026-11-01",
                "performance.kps": "60",
                "diagnosis.date": "2026-08-01",
            }
        },
    )
    assert ok.status_code == 200
    body = ok.json()
    assert body["on"] == "2026-11-01"
    # KPS 60 and diagnosis < 1 year: 2 factors known present, so favorable is ruled out.
    assert 'data-group="undetermined"' in body["results"]
    assert 'data-possible="intermediate poor"' in body["results"]
    assert "Tumour-board summary" in body["summary"]
    bad = client.post("/api/assess", json={"form": {"performance.kps": "65"}})
    assert bad.status_code == 422
    assert bad.json()["problems"] == [
        {"field": "performance.kps", "message": "KPS must be a multiple of 10, got 65"}
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"form": []}',
        b'{"form": {}, "extra": 1}',
        b'{"form": {}, "file": {"name": "x", "summary": {"kind": "k"}, '
        b'"warnings": [{"code": "c", "severity": "fatal", "message": "m"}]}}',
    ],
)
def test_malformed_requests_are_422_with_a_message(client: TestClient, body: bytes) -> None:
    reply = client.post("/api/assess", content=body, headers={"content-type": "application/json"})
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("malformed request")


@pytest.mark.skipif(not VIGNETTES.is_dir(), reason="../shared/vignettes is not present")
def test_intake_fills_the_form_with_sources_and_keeps_reader_notes(client: TestClient) -> None:
    raw = (VIGNETTES / "p03-poor.json").read_bytes()
    reply = client.post(
        "/api/intake?on=2026-11-01", content=raw, headers={"x-file-name": "p03-poor.json"}
    )
    assert reply.status_code == 200
    data = reply.json()
    assert data["form"]["performance.kps"] == "60"
    assert data["form"]["labs.ldh.high"] == "250"  # shown as typed, not "250.0"
    assert data["form"]["assessment_date"] == "2026-11-01"
    assert data["sources"]["performance.kps"].startswith("Observation/")
    assert data["file"]["summary"]["kind"]
    again = client.post("/api/assess", json={"form": data["form"], "file": data["file"]})
    assert 'data-group="poor"' in again.json()["results"]


def test_intake_rejects_unusable_files_with_the_reader_message(client: TestClient) -> None:
    reply = client.post("/api/intake", content=b"{", headers={"x-file-name": "x.json"})
    assert reply.status_code == 422
    assert reply.json()["error"].startswith("x.json: not valid JSON")
    empty = client.post("/api/intake", content=b"", headers={"x-file-name": "e.json"})
    assert empty.status_code == 422 and "empty" in empty.json()["error"]


def test_intake_refuses_oversized_uploads(client: TestClient) -> None:
    reply = client.post(
        "/api/intake",
        content=b" ",
        headers={"content-length": str(MAX_UPLOAD_BYTES + 1), "x-file-name": "big.json"},
    )
    assert reply.status_code == 413


def test_router_mounts_under_a_prefix(kb: KnowledgeBase) -> None:
    from fastapi import FastAPI

    from rccnav.adapters.web import web_router

    host = FastAPI()
    host.include_router(web_router(kb, today=lambda: date(2026, 1, 2)), prefix="/web")
    with TestClient(host) as c:
        page = c.get("/web/")
        assert page.status_code == 200 and 'data-today="2026-01-02"' in page.text
        assert c.get("/web/static/web.css").status_code == 200


def test_templates_hold_no_clinical_thresholds() -> None:
    # No clinical logic in templates or script: no comparisons with numbers.
    root = Path(__file__).resolve().parents[3] / "src" / "rccnav" / "adapters" / "web"
    for path in [*root.glob("templates/*.html"), root / "static" / "web.js"]:
        text = path.read_text()
        assert not re.search(
            r"(kps|ecog|hemoglobin|calcium|ldh|platelet)\w*\s*[<>]=?\s*\d", text, re.I
        ), path


def test_the_guideline_view_is_a_request_field(client: TestClient) -> None:
    """The page's guideline selector: one guideline's view (rccnav assess --guideline)."""
    form = {"assessment_date": "2026-11-01", "diagnosis.date": "2019-05-14"}
    for view in ("nccn", "eau"):
        reply = client.post("/api/assess", json={"form": form, "guideline": view})
        assert reply.status_code == 200
        assert f"Guideline view: {view.upper()} only" in reply.json()["results"]
    merged = client.post("/api/assess", json={"form": form})
    assert "NCCN, EAU and ESMO merged" in merged.json()["results"]
    assert client.post("/api/assess", json={"form": form, "guideline": "asco"}).status_code == 422
    assert 'data-testid="guideline-select"' in client.get("/").text
