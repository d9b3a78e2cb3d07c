"""Feedback: stored durably in SQLite, survives restarts, summarised by card type."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.service.config import load_config
from rccnav.adapters.service.feedback import (
    FeedbackRecord,
    FeedbackStore,
    IssuedCard,
    format_report,
)

from .conftest import (
    SPEC,
    LiveServer,
    Tokens,
    hook_request,
    load_json,
    patient_of,
    prefetch_from,
    service_config,
    vignette,
)

FEEDBACK_EXAMPLES = (
    "feedback-accepted.json",
    "feedback-overridden-no-reason.json",
    "feedback-overridden-with-reason.json",
)
PATH = "/cds-services/rccnav-patient-view/feedback"


def test_store_round_trip_and_report(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.note_issued(
        [
            IssuedCard("c1", "svc", "imdc-risk", "t"),
            IssuedCard("c2", "svc", "ineffective-therapy", "t"),
        ]
    )
    store.add_feedback(
        "svc",
        [
            FeedbackRecord("c1", "accepted", "2026-11-01T00:00:00Z", accepted_suggestions=("s1",)),
            FeedbackRecord(
                "c2",
                "overridden",
                "2026-11-01T00:00:00Z",
                "sys",
                "expert-contradicts",
                "Advice from expert contradicts the recommended action",
                "tumour board",
            ),
            FeedbackRecord("c2", "overridden", "2026-11-01T00:01:00Z"),
            FeedbackRecord("c9", "overridden", "2026-11-01T00:01:00Z"),
        ],
    )
    report = store.report()
    store.close()
    by_type = {s.card_type: s for s in report.by_card_type}
    assert report.records == 4 and report.cards_issued == 2
    assert by_type["imdc-risk"].accepted == 1
    assert by_type["ineffective-therapy"].overridden == 2
    assert by_type["ineffective-therapy"].override_reasons == {
        "Advice from expert contradicts the recommended action": 1,
        "(no reason given)": 1,
    }
    assert by_type["unknown"].overridden == 1
    text = format_report(report)
    assert "ineffective-therapy" in text and "tumour board" not in text  # comments not shown


def test_store_is_wal_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "f.sqlite3"
    store = FeedbackStore(path)
    store.add_feedback("svc", [FeedbackRecord("c1", "accepted", "t", accepted_suggestions=("s",))])
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    again = FeedbackStore(path)
    assert again.count() == 1
    again.close()


def test_acknowledged_feedback_is_on_disk_before_close(tmp_path: Path) -> None:
    """add_feedback commits: another connection sees it without the store closing."""
    path = tmp_path / "f.sqlite3"
    store = FeedbackStore(path)
    store.add_feedback("svc", [FeedbackRecord("c1", "overridden", "t")])
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM feedback").fetchone()[0] == 1
    store.close()


def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")

    def write(n: int) -> None:
        for i in range(50):
            store.add_feedback("svc", [FeedbackRecord(f"{n}-{i}", "overridden", "t")])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 400
    store.close()


def post_feedback(live: LiveServer, tokens: Tokens, body: Any) -> int:
    with live.client() as client:
        response = client.post(
            PATH, content=orjson.dumps(body), headers=tokens.header(live.url + PATH)
        )
    return response.status_code


def test_spec_feedback_examples_are_stored_and_survive_restart(
    tmp_path: Path,
    serve: Callable[..., LiveServer],
    tokens: Tokens,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = service_config(tmp_path)
    first = serve(config)
    for name in FEEDBACK_EXAMPLES:
        assert post_feedback(first, tokens, load_json(SPEC / name)) == 200
    first.stop()

    second = serve(config)  # same database file, new process state
    assert post_feedback(second, tokens, load_json(SPEC / "feedback-accepted.json")) == 200
    second.stop()

    settings = tmp_path / "rccnav.toml"
    settings.write_text(f'feedback_db = "{config.feedback_db}"\n')
    assert load_config(settings).feedback_db == config.feedback_db
    assert main(["feedback", "report", "--config", str(settings), "--format", "json"]) == 0
    report = orjson.loads(capsys.readouterr().out)
    assert report["records"] == 4
    (unknown,) = report["by_card_type"]  # these uuids were never issued by this service
    assert unknown["accepted"] == 2 and unknown["overridden"] == 2
    assert unknown["override_reasons"] == {"d7ecf885": 1, "(no reason given)": 1}


@pytest.mark.parametrize(
    "item",
    [
        {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-01T00:00:00Z"},
        {"card": "c", "outcome": "maybe", "outcomeTimestamp": "2026-11-01T00:00:00Z"},
        {"card": "c", "outcome": "overridden", "outcomeTimestamp": "yesterday"},
        {"card": "c", "outcome": "overridden", "outcomeTimestamp": "2026-11-01T00:00:00"},
        {"outcome": "overridden", "outcomeTimestamp": "2026-11-01T00:00:00Z"},
    ],
)
def test_malformed_feedback_is_400_and_not_stored(
    tmp_path: Path, serve: Callable[..., LiveServer], tokens: Tokens, item: dict[str, Any]
) -> None:
    config = service_config(tmp_path)
    live = serve(config)
    assert post_feedback(live, tokens, {"feedback": [item]}) == 400
    assert post_feedback(live, tokens, {"feedback": []}) == 400
    live.stop()
    store = FeedbackStore(config.feedback_db)
    assert store.count() == 0
    store.close()


def test_feedback_report_without_a_database_is_an_input_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tmp_path / "rccnav.yaml"
    settings.write_text("feedback_db: nothing-here.sqlite3\n")
    assert main(["feedback", "report", "--config", str(settings)]) == 2
    assert "no feedback database" in capsys.readouterr().err


def test_report_groups_feedback_by_the_card_type_issued(
    tmp_path: Path, serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    config = service_config(tmp_path)
    live = serve(config)
    bundle = vignette("p08-gemcitabine-clear-cell")
    body = hook_request("patient-view", patient_of(bundle)["id"], prefetch=prefetch_from(bundle))
    path = "/cds-services/rccnav-patient-view"
    with live.client() as client:
        first = client.post(
            path, content=orjson.dumps(body), headers=tokens.header(live.url + path)
        )
        again = client.post(
            path, content=orjson.dumps(body), headers=tokens.header(live.url + path)
        )
    cards = {c["source"]["topic"]["code"]: c for c in first.json()["cards"]}
    # The same data again: the same cards, each under a new uuid.
    repeat = {c["source"]["topic"]["code"]: c for c in again.json()["cards"]}
    assert repeat.keys() == cards.keys()
    assert {c["uuid"] for c in repeat.values()}.isdisjoint(c["uuid"] for c in cards.values())
    assert [c["summary"] for c in repeat.values()] == [c["summary"] for c in cards.values()]

    warning = cards["ineffective-therapy"]
    reason = {k: v for k, v in warning["overrideReasons"][0].items() if k != "display"}
    feedback = {
        "feedback": [
            {
                "card": warning["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-01T10:00:00Z",
                "overrideReason": {"reason": reason, "userComment": "tumour board"},
            },
            {
                "card": repeat["imdc-risk"]["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-11-01T10:01:00Z",
            },
        ]
    }
    assert post_feedback(live, tokens, feedback) == 200
    live.stop()
    store = FeedbackStore(config.feedback_db)
    report = {s.card_type: s for s in store.report().by_card_type}
    store.close()
    assert report["ineffective-therapy"].override_reasons == {
        warning["overrideReasons"][0]["display"]: 1
    }
    assert report["imdc-risk"].overridden == 1
