"""The lab baseline and the IMDC/MSKCC scores from the memo are exactly the computed ones.

``rccnav.core.prognosis.scores`` keeps the baseline under the record parts it reads and the
scores under that key with the diagnosis, planned start, line and first line. For every
component of either key, two records (examples, vignettes and small edits of them) whose
keys differ in that component alone get different answers, so a key without it gives a
wrong answer; and a record holding 0.0 where another holds -0.0 (equal floats that print
differently) is never answered from the other's entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from rccnav.core import memo
from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment, GuidelineViewName
from rccnav.core.case import Case
from rccnav.core.prognosis import scores
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

from .test_treatment_memo import _all_cases, _differences, _edit

KB: KnowledgeBase = default_knowledge_base()
Run = tuple[Case, date, GuidelineViewName, int | None]

BASELINE_PARTS = (
    "knowledge_base",
    "on",
    "window",
    "labs",
    "vitals",
    "sex",
    "birth_date",
    "performance",
)
SCORE_PARTS = ("baseline", "diagnosis", "planned_start", "line", "first_line")


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    memo.clear_patient_memos()
    yield
    memo.clear_patient_memos()


def _assess(run: Run, kb: KnowledgeBase = KB) -> Assessment:
    case, on, view, window = run
    return assess(case, kb, on, lookback_days=window, guideline=view)


def _wrong_after(first: Run, second: Run, kb: KnowledgeBase = KB) -> list[str]:
    memo.clear_patient_memos()
    _assess(first)
    got = _assess(second, kb)
    with memo.bypassed():
        want = _assess(second, kb)
    return _differences(got, want)


def _lab(name: str, change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        lab = data.get("labs", {}).get(name)
        if lab:
            change(lab)

    return edit


def _scale(lab: dict[str, Any]) -> None:
    lab["value"] = lab["value"] * 1.5


def _section(section: str, name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data.setdefault(section, {})[name] = value

    return edit


def _top(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(data: dict[str, Any]) -> None:
        data[name] = value

    return edit


def _planned(data: dict[str, Any]) -> None:
    if data.get("proposed_therapy"):
        data["proposed_therapy"]["planned_start"] = "2027-03-01"


def _first_line_start(data: dict[str, Any]) -> None:
    for therapy in data.get("prior_therapies", [])[:1]:
        if therapy.get("start"):
            start = date.fromisoformat(therapy["start"]) - timedelta(days=200)
            therapy["start"] = start.isoformat()


def _ended(data: dict[str, Any]) -> None:
    for therapy in data.get("prior_therapies", [])[-1:]:
        if therapy.get("start") and not therapy.get("end"):
            therapy["end"] = therapy["start"]
            therapy["stop_reason"] = "progression"


def _kidney(weight: float, born: str) -> Callable[[dict[str, Any]], None]:
    """Creatinine with sex, weight and date of birth: eGFR and CrCl are calculated."""

    def edit(data: dict[str, Any]) -> None:
        data.setdefault("labs", {})["creatinine"] = {
            "value": 1.3,
            "unit": "mg/dL",
            "date": data.get("diagnosis", {}).get("date"),
        }
        data["sex"] = "male"
        data["birth_date"] = born
        data.setdefault("vitals", {})["weight"] = {"value": weight, "unit": "kg"}

    return edit


_EDITS: tuple[Callable[[dict[str, Any]], None], ...] = (
    _kidney(70.0, "1950-01-01"),
    _kidney(95.0, "1950-01-01"),
    _kidney(70.0, "1970-01-01"),
    _lab("hemoglobin", _scale),
    _lab("platelets", _scale),
    _section("vitals", "weight", {"value": 70.0, "unit": "kg"}),
    _section("vitals", "weight", {"value": 95.0, "unit": "kg"}),
    _top("sex", "female"),
    _top("sex", "male"),
    _top("birth_date", "1950-01-01"),
    _section("performance", "kps", 60),
    _section("diagnosis", "date", "2025-11-20"),
    _planned,
    _first_line_start,
    _ended,
)


def _keyed_runs() -> list[tuple[Run, tuple[object, ...], tuple[object, ...]]]:
    baseline_key, scores_key = scores.baseline_key, scores.scores_key
    seen: dict[str, tuple[object, ...]] = {}

    def record_baseline(*args: Any) -> tuple[object, ...]:
        seen["baseline"] = baseline_key(*args)
        return seen["baseline"]

    def record_scores(*args: Any) -> tuple[object, ...]:
        seen["scores"] = scores_key(*args)
        return seen["scores"]

    runs: list[tuple[Run, tuple[object, ...], tuple[object, ...]]] = []
    scores.baseline_key, scores.scores_key = record_baseline, record_scores  # type: ignore[assignment]
    try:
        for _, case, on, view in _all_cases():
            variants = [_edit(case, edit) for edit in _EDITS]
            for variant in (case, *variants):
                if variant is None:
                    continue
                # Another day and other look-back windows for the records as written.
                others = ((on + timedelta(days=1), None), (on, 1), (on, 400))
                for day, window in ((on, None), *(others if variant is case else ())):
                    seen.clear()
                    memo.clear_patient_memos()
                    run = (variant, day, view, window)
                    _assess(run)
                    if "scores" in seen:
                        runs.append((run, seen["baseline"], seen["scores"]))
    finally:
        scores.baseline_key, scores.scores_key = baseline_key, scores_key  # type: ignore[assignment]
    return runs


@pytest.fixture(scope="module")
def keyed_runs() -> list[tuple[Run, tuple[object, ...], tuple[object, ...]]]:
    return _keyed_runs()


def _reworded_survival() -> KnowledgeBase:
    """The same knowledge base with the survival cohorts reworded (another checksum)."""
    rows = tuple(r.model_copy(update={"cohort": f"{r.cohort} (reworded)"}) for r in KB.survival)
    return KB.model_copy(update={"checksum": "reworded-survival", "survival": rows})


def _blank(key: tuple[object, ...], position: int) -> tuple[object, ...]:
    return (*key[:position], None, *key[position + 1 :])


def test_every_example_and_vignette_memoised_equals_computed(
    keyed_runs: list[tuple[Run, tuple[object, ...], tuple[object, ...]]],
) -> None:
    assert len(keyed_runs) > 1000
    runs = [run for run, *_ in keyed_runs]
    for run in runs:  # every entry in the memo first
        _assess(run)
    wrong = []
    for run in runs[::7]:
        got = _assess(run)
        with memo.bypassed():
            want = _assess(run)
        if _differences(got, want):
            wrong.append(_differences(got, want))
    assert not wrong


@pytest.mark.parametrize(
    ("which", "component"),
    [("baseline", c) for c in BASELINE_PARTS] + [("scores", c) for c in SCORE_PARTS],
)
def test_dropping_any_key_component_gives_a_wrong_answer(
    which: str,
    component: str,
    keyed_runs: list[tuple[Run, tuple[object, ...], tuple[object, ...]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parts = BASELINE_PARTS if which == "baseline" else SCORE_PARTS
    position = parts.index(component)
    original = getattr(scores, f"{which}_key")

    def without(*args: Any) -> tuple[object, ...]:
        return _blank(original(*args), position)

    if component == "knowledge_base":
        run = keyed_runs[0][0]
        assert _wrong_after(run, run, _reworded_survival()) == []
        monkeypatch.setattr(scores, "baseline_key", without)
        assert _wrong_after(run, run, _reworded_survival()), "a key without the KB went unnoticed"
        return
    index = 1 if which == "baseline" else 2
    groups: dict[tuple[object, ...], list[int]] = {}
    for number, entry in enumerate(keyed_runs):
        key = entry[index]
        # The scores key holds the baseline key: a pair must share that too (but for
        # the component under test).
        other = entry[1] if which == "scores" and component != "baseline" else ()
        groups.setdefault((_blank(key, position), other), []).append(number)
    pairs = [
        (keyed_runs[g[0]][0], keyed_runs[o][0])
        for g in groups.values()
        for o in g[1:]
        if keyed_runs[g[0]][index][position] != keyed_runs[o][index][position]
    ]
    assert pairs, f"no two records differ in {component} alone"
    for first, second in pairs[:3]:
        assert _wrong_after(first, second) == []
    monkeypatch.setattr(scores, f"{which}_key", without)
    assert any(_wrong_after(first, second) for first, second in pairs), (
        f"a key without {component} went unnoticed"
    )


def _hemoglobin(value: float) -> Case:
    return Case.model_validate(
        {
            "diagnosis": {"date": "2026-05-01", "histology": "clear-cell"},
            "labs": {"hemoglobin": {"value": value, "unit": "g/dL", "low": 12.0, "high": 16.0}},
        }
    )


def test_zero_and_negative_zero_are_never_confused(monkeypatch: pytest.MonkeyPatch) -> None:
    """0.0 == -0.0, but the data-quality warning prints them differently."""
    on = date(2026, 11, 2)
    first, second = (_hemoglobin(0.0), on, "all", None), (_hemoglobin(-0.0), on, "all", None)
    assert first[0] == second[0]
    assert _wrong_after(first, second) == []
    monkeypatch.setattr(scores, "_holds_zero", lambda case: False)
    assert _wrong_after(first, second), "0.0 and -0.0 were told apart without the zero rule"
