"""``rccnav cohort diff``: patients whose recommendation differs between two runs, and why.

Typical use: the same export assessed with two knowledge-base versions (``--kb``). For
each patient present in both runs, the recommendation fields are compared; the
explanation separates changes that follow a change in the patient's risk assessment
(group, line, a factor read differently) from those where the assessment is the same
and only the knowledge base moved the regimen.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rccnav.adapters.cohort.patient import IMDC_FACTORS, MSKCC_FACTORS
from rccnav.adapters.cohort.report import load_rows

RECOMMENDATION = (
    "preferred",
    "other",
    "certain_circumstances",
    "cn",
    "metastasectomy",
    "active_surveillance",
)
ASSESSMENT = (
    "status",
    "imdc_group",
    "mskcc_group",
    "line",
    "histology",
    *[f"imdc_{f}" for f in IMDC_FACTORS],
    *[f"mskcc_{f}" for f in MSKCC_FACTORS],
)
LABELS = {"cn": "cytoreductive nephrectomy", "certain_circumstances": "certain circumstances"}


@dataclass(frozen=True)
class Change:
    patient_id: str
    what: tuple[str, ...]
    why: str


def _label(field: str) -> str:
    return LABELS.get(field, field.replace("_", " "))


def _describe(field: str, before: Any, after: Any) -> str:
    if isinstance(before, list) or isinstance(after, list):
        old, new = set(before or []), set(after or [])
        parts = []
        if new - old:
            parts.append("adds " + ", ".join(sorted(new - old)))
        if old - new:
            parts.append("drops " + ", ".join(sorted(old - new)))
        return f"{_label(field)} {'; '.join(parts)}"
    return f"{_label(field)} {before or 'none'} -> {after or 'none'}"


def changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[Change]:
    old = {row["patient_id"]: row for row in before}
    found = []
    for row in after:
        previous = old.get(row["patient_id"])
        if previous is None:
            continue
        moved = [f for f in RECOMMENDATION if _norm(previous[f]) != _norm(row[f])]
        if not moved:
            continue
        inputs = [f for f in ASSESSMENT if previous[f] != row[f]]
        what = tuple(_describe(f, previous[f], row[f]) for f in moved)
        if inputs:
            why = "the assessment differs: " + "; ".join(
                _describe(f, previous[f], row[f]) for f in inputs
            )
        else:
            why = (
                "same risk groups, line and factors: the knowledge base changed "
                f"({previous['kb_version']} -> {row['kb_version']})"
            )
        found.append(Change(row["patient_id"], what, why))
    return found


def _norm(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def diff_text(before_dir: Path, after_dir: Path, style: str = "text") -> str:
    before, after = load_rows(before_dir), load_rows(after_dir)
    found = changes(before, after)
    if style == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["patient_id", "what_changed", "why"])
        for change in found:
            writer.writerow([change.patient_id, " | ".join(change.what), change.why])
        return buffer.getvalue()
    both = len({r["patient_id"] for r in before} & {r["patient_id"] for r in after})
    kb_before = sorted({str(r["kb_version"]) for r in before})
    kb_after = sorted({str(r["kb_version"]) for r in after})
    lines = [
        f"{len(found)} of {both} patients in both runs have a different recommendation "
        f"(knowledge base {', '.join(kb_before)} -> {', '.join(kb_after)})."
    ]
    for change in found:
        lines.append(f"\n{change.patient_id}")
        lines.extend(f"  - {item}" for item in change.what)
        lines.append(f"  why: {change.why}")
    return "\n".join(lines) + "\n"
