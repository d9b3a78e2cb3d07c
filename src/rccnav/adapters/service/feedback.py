"""Durable store of CDS Hooks feedback (accepted / overridden cards), in SQLite.

Feedback is committed (WAL, ``synchronous=FULL``) before the service answers
200, so an acknowledged record survives a crash or restart. Which card type a
card uuid was is recorded when the card is issued; those rows are batched and
written by a background thread so issuing cards costs the hook call nothing.
They matter only to the report, which joins feedback to them by uuid.

Nothing here is logged; user comments are stored for the report's reader only.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson

SCHEMA_VERSION = 1

log = logging.getLogger("rccnav.service")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS issued_card (
    uuid TEXT PRIMARY KEY,
    service_id TEXT NOT NULL,
    card_type TEXT NOT NULL,
    issued_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    service_id TEXT NOT NULL,
    card_uuid TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'overridden')),
    outcome_timestamp TEXT NOT NULL,
    override_system TEXT,
    override_code TEXT,
    override_display TEXT,
    user_comment TEXT,
    accepted_suggestions TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS feedback_card ON feedback (card_uuid);
"""


@dataclass(frozen=True, slots=True)
class FeedbackRecord:
    card_uuid: str
    outcome: str
    outcome_timestamp: str
    override_system: str | None = None
    override_code: str | None = None
    override_display: str | None = None
    user_comment: str | None = None
    accepted_suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IssuedCard:
    uuid: str
    service_id: str
    card_type: str
    issued_at: str


@dataclass
class CardTypeSummary:
    card_type: str
    accepted: int = 0
    overridden: int = 0
    override_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.accepted + self.overridden

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.total if self.total else 0.0


@dataclass(frozen=True)
class FeedbackReport:
    records: int
    cards_issued: int
    by_card_type: tuple[CardTypeSummary, ...]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class StorageError(Exception):
    """The feedback store cannot be used; the message names the file and the fix."""


def storage_problem(path: Path, exc: BaseException, setting: str = "feedback_db") -> StorageError:
    """Say what is wrong with ``path`` and what to change, from a SQLite or OS error."""
    text = str(exc).lower()
    folder = path.parent
    errno = getattr(exc, "errno", None)
    if "disk is full" in text or "no space" in text or errno == 28:
        why = (
            f"the disk holding {folder} is full. Free space there, or set {setting} to a "
            "file on another disk"
        )
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        why = (
            "it is not a usable SQLite database (corrupt, or another kind of file). Move it "
            f"aside (keep it: `sqlite3 {path.name} .recover` may save its records) and "
            f"restart; a new database is created, or set {setting} to another file"
        )
    elif (
        "readonly" in text
        or "read-only" in text
        or "permission" in text
        or "unable to open" in text
        or "not permitted" in text
        or errno in (1, 13, 30)
    ):
        why = (
            f"it cannot be written (read-only file or folder). Make {folder} and the file "
            f"writable by the service's user, or set {setting} to a writable path"
        )
    else:
        why = f"{type(exc).__name__}: {exc}. Check the file and its folder, or set {setting}"
    return StorageError(f"{setting} {path}: {why}")


class FeedbackStore:
    """One SQLite file; thread-safe; feedback writes are synchronous and durable.

    Any storage fault (read-only folder, corrupt file, full disk) is raised as a
    :class:`StorageError` naming the file and the fix: at start-up, so the service
    refuses to start, and per call, so feedback is answered 503 and never
    acknowledged unless committed. The last fault is kept for ``/readyz``.
    """

    def __init__(self, path: Path, *, flush_interval: float = 0.25) -> None:
        self.path = path
        self.last_error: str | None = None
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            # A write now, so a read-only file or full disk is found at start-up.
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            raise storage_problem(path, exc) from None
        self._pending: list[IssuedCard] = []
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._flush_interval = flush_interval
        self._flusher = threading.Thread(target=self._flush_loop, name="card-log", daemon=True)
        self._flusher.start()

    # -- issued cards (batched) ------------------------------------------
    def note_issued(self, cards: Iterable[IssuedCard]) -> None:
        with self._pending_lock:
            self._pending.extend(cards)

    def flush(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        rows = [(c.uuid, c.service_id, c.card_type, c.issued_at) for c in batch]
        self._write("INSERT OR IGNORE INTO issued_card VALUES (?, ?, ?, ?)", rows)

    def _write(self, sql: str, rows: Sequence[tuple[object, ...]]) -> None:
        """One transaction; a storage fault becomes a StorageError and is remembered."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(sql, rows)
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            except (sqlite3.Error, OSError) as exc:
                problem = storage_problem(self.path, exc)
                self.last_error = str(problem)
                raise problem from None
            self.last_error = None

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._flush_interval):
            try:
                self.flush()
            except StorageError as exc:
                # Issued-card rows only label the report; they are dropped, not retried
                # forever. The fault is logged and shown by /readyz.
                log.error("card log not written: %s", exc)

    # -- feedback (synchronous, durable) ---------------------------------
    def add_feedback(self, service_id: str, records: Sequence[FeedbackRecord]) -> int:
        """Store every record in one transaction; return how many were stored."""
        received = utc_now()
        rows = [
            (
                received,
                service_id,
                r.card_uuid,
                r.outcome,
                r.outcome_timestamp,
                r.override_system,
                r.override_code,
                r.override_display,
                r.user_comment,
                orjson.dumps(list(r.accepted_suggestions)).decode(),
            )
            for r in records
        ]
        self._write(
            "INSERT INTO feedback (received_at, service_id, card_uuid, outcome, "
            "outcome_timestamp, override_system, override_code, override_display, "
            "user_comment, accepted_suggestions) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return len(rows)

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM feedback").fetchone()
        return int(n)

    def report(self) -> FeedbackReport:
        self.flush()
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT coalesce(c.card_type, 'unknown'), f.outcome, "
                    "coalesce(f.override_display, f.override_code), f.override_system "
                    "FROM feedback f LEFT JOIN issued_card c ON c.uuid = f.card_uuid"
                ).fetchall()
                (issued,) = self._db.execute("SELECT count(*) FROM issued_card").fetchone()
            except sqlite3.Error as exc:
                raise storage_problem(self.path, exc) from None
        summaries: dict[str, CardTypeSummary] = {}
        for card_type, outcome, reason, _system in rows:
            summary = summaries.setdefault(card_type, CardTypeSummary(card_type))
            if outcome == "accepted":
                summary.accepted += 1
                continue
            summary.overridden += 1
            label = reason or "(no reason given)"
            summary.override_reasons[label] = summary.override_reasons.get(label, 0) + 1
        ordered = tuple(sorted(summaries.values(), key=lambda s: (-s.total, s.card_type)))
        return FeedbackReport(records=len(rows), cards_issued=int(issued), by_card_type=ordered)

    def close(self) -> None:
        self._stop.set()
        self._flusher.join(timeout=5)
        try:
            self.flush()
        except StorageError as exc:
            log.error("card log not written at shutdown: %s", exc)
        with self._lock:
            self._db.close()


def format_report(report: FeedbackReport) -> str:
    """Plain-text summary: acceptance and override reasons by card type."""
    lines = [
        f"feedback records: {report.records}   cards issued: {report.cards_issued}",
    ]
    if not report.by_card_type:
        lines.append("no feedback yet")
        return "\n".join(lines) + "\n"
    lines.append("")
    lines.append(
        f"{'card type':<32} {'total':>6} {'accepted':>9} {'overridden':>11} {'accept %':>9}"
    )
    for s in report.by_card_type:
        lines.append(
            f"{s.card_type:<32} {s.total:>6} {s.accepted:>9} {s.overridden:>11} "
            f"{100 * s.acceptance_rate:>8.1f}%"
        )
        for reason, n in sorted(s.override_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"    override: {reason} ({n})")
    return "\n".join(lines) + "\n"


def report_to_dict(report: FeedbackReport) -> dict[str, object]:
    return {
        "records": report.records,
        "cards_issued": report.cards_issued,
        "by_card_type": [
            {
                "card_type": s.card_type,
                "total": s.total,
                "accepted": s.accepted,
                "overridden": s.overridden,
                "acceptance_rate": round(s.acceptance_rate, 4),
                "override_reasons": s.override_reasons,
            }
            for s in report.by_card_type
        ],
    }
