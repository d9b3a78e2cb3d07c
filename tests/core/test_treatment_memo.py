"""The treatment memo gives exactly the computed answer, and its key is complete.

``assess()`` keeps the options and safety warnings under a key of every value they read
(``rccnav.core.decisions.treatment``). Here:

- over generated pairs of patients, the second a neighbour of the first (some sections of
  the record, some comorbidity details, the guideline view redrawn), the memoised
  Assessment of the second after the first equals, field by field, the one computed with
  every patient memo bypassed; the same over every example, shared FHIR vignette and
  clinical vignette, each assessed after all the others;
- the comparison is not vacuous: the generated pairs do share keys (the second patient's
  answer comes from the memo), and for each component of the key, two patients (examples,
  vignettes and small edits of them) whose keys differ in that component alone get
  different answers, so a key without it fails this test (the few components that never
  change an answer alone are named, with why, and skipped);
- the memo is bounded, and clearing or bypassing it changes no answer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from rccnav.adapters.intake import read_input
from rccnav.core import memo
from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment, GuidelineViewName
from rccnav.core.case import (
    AutoimmuneDisease,
    Case,
    IrAEOrgan,
    TransplantOrgan,
)
from rccnav.core.decisions import treatment
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

from .conftest import ON
from .test_properties import any_case

KB: KnowledgeBase = default_knowledge_base()
ROOT = Path(__file__).resolve().parents[2]
VIEWS: tuple[GuidelineViewName, ...] = ("all", "nccn", "eau", "esmo")
SOME = settings(max_examples=150, deadline=None)
SEARCH = settings(
    max_examples=3000,
    deadline=None,
    database=None,
    phases=(Phase.generate,),
    suppress_health_check=list(HealthCheck),
)

AGENTS = ["nivolumab", "ipilimumab", "pembrolizumab", "sunitinib", "cabozantinib", None]


@st.composite
def comorbidity_details(draw: st.DrawFn) -> dict[str, Any]:
    """The detail the derived safety facts and their messages read."""
    maybe = st.one_of(st.none(), st.booleans())
    events = st.lists(
        st.fixed_dictionaries(
            {
                "organ": st.sampled_from([o.value for o in IrAEOrgan]),
                "grade": st.one_of(st.none(), st.integers(1, 5)),
                "agents": st.lists(st.sampled_from(AGENTS[:3]), max_size=2, unique=True),
                "source": st.sampled_from([None, "Condition/irae-1", "Condition/irae-2"]),
            }
        ),
        max_size=2,
    )
    return {
        "immune_related_adverse_events": draw(st.one_of(st.none(), events)),
        "transplanted_organs": draw(
            st.one_of(
                st.none(),
                st.lists(st.sampled_from([o.value for o in TransplantOrgan]), max_size=2),
            )
        ),
        "autoimmune_diseases": draw(
            st.one_of(
                st.none(),
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "disease": st.sampled_from([d.value for d in AutoimmuneDisease]),
                            "active": maybe,
                        }
                    ),
                    max_size=2,
                ),
            )
        ),
        "corticosteroid_prednisone_mg_per_day": draw(
            st.one_of(st.none(), st.sampled_from([5.0, 10.0, 12.5, 20.0, 40.0]))
        ),
        "corticosteroid_replacement_only": draw(maybe),
        "other_immunosuppressants": draw(
            st.one_of(st.none(), st.lists(st.sampled_from(["tacrolimus", "azathioprine"])))
        ),
        "infections": {
            "hepatitis_b": draw(st.sampled_from([None, "active", "past", "none"])),
            "hiv": draw(st.sampled_from([None, "active", "controlled", "none"])),
        },
        "sources": draw(
            st.sampled_from(
                [{}, {"pregnancy": "Observation/preg"}, {"heart_failure": "Condition/hf"}]
            )
        ),
    }


@st.composite
def rich_case(draw: st.DrawFn) -> dict[str, Any]:
    """A generated patient (as case-file data) with comorbidity detail, vitals and sources."""
    data = draw(any_case()).model_dump(mode="json", exclude_none=True)
    data["comorbidities"].update(draw(comorbidity_details()))
    data["vitals"] = {
        "oxygen_saturation": draw(
            st.one_of(
                st.none(),
                st.sampled_from([85.0, 91.0, 97.0]).map(lambda v: {"value": v, "unit": "%"}),
            )
        ),
        "supplemental_oxygen": draw(st.one_of(st.none(), st.booleans())),
    }
    if data.get("proposed_therapy"):
        data["proposed_therapy"]["source"] = draw(
            st.sampled_from([None, "MedicationRequest/a", "MedicationRequest/b"])
        )
    return data


def _neighbour(draw: st.DrawFn, first: dict[str, Any]) -> dict[str, Any]:
    """``first`` with some sections, comorbidities and details taken from another patient."""
    other = draw(rich_case())
    second = json.loads(json.dumps(first))
    for section in sorted(set(first) | set(other)):
        if draw(st.integers(0, 3)) == 0:  # a quarter of the sections redrawn
            if section in other:
                second[section] = other[section]
            else:
                second.pop(section, None)
    mine, theirs = second.get("comorbidities", {}), other.get("comorbidities", {})
    for name in sorted(set(mine) | set(theirs)):
        if draw(st.integers(0, 5)) == 0:
            if name in theirs:
                mine[name] = theirs[name]
            else:
                mine.pop(name, None)
    return second


def _agreeing(data: dict[str, Any]) -> Case:
    """The Case, with the summary flags made to agree with the detail beside them (the
    Case refuses a record that contradicts itself)."""
    c = data.get("comorbidities", {})
    organs = c.get("transplanted_organs")
    if organs is not None:
        c["organ_transplant"] = bool(organs)
    events = c.get("immune_related_adverse_events")
    if events is not None and c.get("prior_severe_immune_related_adverse_event") is not None:
        c["prior_severe_immune_related_adverse_event"] = any(
            (e.get("grade") or 0) >= 4 for e in events
        )
    if c.get("autoimmune_diseases") and c.get("active_autoimmune_disease") is False:
        c["active_autoimmune_disease"] = None
    dose = c.get("corticosteroid_prednisone_mg_per_day")
    if dose is not None and c.get("systemic_steroids_over_10mg") is not None:
        c["systemic_steroids_over_10mg"] = dose > 10
    return Case.model_validate(data)


Pair = tuple[Case, GuidelineViewName, Case, GuidelineViewName]


@st.composite
def neighbours(draw: st.DrawFn) -> Pair:
    first = draw(rich_case())
    second = _neighbour(draw, first)
    view = draw(st.sampled_from(VIEWS))
    other_view = view if draw(st.booleans()) else draw(st.sampled_from(VIEWS))
    return _agreeing(first), view, _agreeing(second), other_view


def _differences(got: Assessment, want: Assessment) -> list[str]:
    return [
        f.name
        for f in dataclasses.fields(Assessment)
        if getattr(got, f.name) != getattr(want, f.name)
    ]


def _memo_errs(pair: Pair, kb: KnowledgeBase = KB) -> list[str]:
    """Fields where the second patient's memoised Assessment differs from the computed one."""
    first, view, second, other_view = pair
    memo.clear_patient_memos()
    assess(first, kb, ON, guideline=view)
    got = assess(second, kb, ON, guideline=other_view)
    with memo.bypassed():
        want = assess(second, kb, ON, guideline=other_view)
    return _differences(got, want)


def _shares_key(pair: Pair) -> bool:
    first, view, second, other_view = pair
    memo.clear_patient_memos()
    assess(first, KB, ON, guideline=view)
    assess(second, KB, ON, guideline=other_view)
    return len(treatment._MEMO) == 1


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    memo.clear_patient_memos()
    yield
    memo.clear_patient_memos()


@SOME
@given(neighbours())
def test_memoised_assessment_equals_the_computed_one(pair: Pair) -> None:
    assert _memo_errs(pair) == []


def test_generated_pairs_do_share_keys_with_different_records() -> None:
    """Not vacuous: the second patient's answer does come from the memo, for a patient
    whose record differs from the first's."""
    pair = find(
        neighbours(),
        lambda p: p[0] != p[2] and p[0].comorbidities != p[2].comorbidities and _shares_key(p),
        settings=SEARCH,
    )
    assert _memo_errs(pair) == []


# --- every component of the key is needed --------------------------------------------------


def _without(component: str) -> Callable[..., treatment.TreatmentKey]:
    original = treatment.treatment_key

    def key(*args: Any) -> treatment.TreatmentKey:
        return original(*args)._replace(**{component: None})

    return key


def _edit(case: Case, change: Callable[[dict[str, Any]], None]) -> Case | None:
    data = case.model_dump(mode="json", exclude_none=True)
    change(data)
    try:
        return Case.model_validate(data)
    except ValueError:
        return None


def _set(section: str, name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data.setdefault(section, {})[name] = value

    return change


def _brain(treated: bool) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        disease = data.setdefault("disease", {})
        disease["metastases"] = [
            *disease.get("metastases", []),
            {"site": "brain", "lesions": 1, "treated": treated},
        ]

    return change


def _prior(name: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for therapy in data.get("prior_therapies", [])[-1:]:
            therapy[name] = value

    return change


def _repeat_last_line(data: dict[str, Any]) -> None:
    prior = data.get("prior_therapies", [])
    if prior:
        prior.insert(0, {**prior[-1], "start": "2024-01-01", "end": "2024-03-01"})


#: Small edits, each touching one thing a key component is read from.
_EDITS: tuple[Callable[[dict[str, Any]], None], ...] = (
    *(_set("diagnosis", "sarcomatoid", v) for v in (True, False)),
    *(_set("disease", "no_evidence_of_disease", v) for v in (True, False)),
    _brain(treated=True),
    _brain(treated=False),
    *(_prior("stop_reason", v) for v in ("progression", "toxicity", "completed")),
    *(_prior("setting", v) for v in ("adjuvant", "metastatic")),
    _repeat_last_line,
    *(_set("performance", "ecog", v) for v in (2, 3)),
)


def _source(data: dict[str, Any]) -> None:
    if data.get("proposed_therapy"):
        data["proposed_therapy"]["source"] = "MedicationRequest/another"


def _keyed_cases() -> list[tuple[Case, date, GuidelineViewName, treatment.TreatmentKey]]:
    """Every example and vignette, and each with every edit above, with its key."""
    original = treatment.treatment_key
    seen: list[treatment.TreatmentKey] = []

    def recording(*args: Any) -> treatment.TreatmentKey:
        seen.append(original(*args))
        return seen[-1]

    out = []
    treatment.treatment_key = recording  # type: ignore[assignment]
    try:
        for _, case, on, view in _all_cases():
            variants = [_edit(case, edit) for edit in (*_EDITS, _source)]
            for variant in (case, *variants):
                if variant is None:
                    continue
                seen.clear()
                memo.clear_patient_memos()
                assess(variant, KB, on, guideline=view)
                if seen:
                    out.append((variant, on, view, seen[0]))
    finally:
        treatment.treatment_key = original  # type: ignore[assignment]
    return out


def _other_kb() -> KnowledgeBase:
    """The same knowledge base with one more source cited by one rule (another checksum)."""
    rule = KB.rule("therapy.contraindications-unknown")
    extra = next(source for source in KB.sources if source not in rule.sources)
    return KB.model_copy(
        update={
            "checksum": "another-knowledge-base",
            "rules": {
                **KB.rules,
                rule.id: rule.model_copy(update={"sources": (*rule.sources, extra)}),
            },
        }
    )


def _wrong_after(
    first: tuple[Case, date, GuidelineViewName],
    second: tuple[Case, date, GuidelineViewName],
    kb: KnowledgeBase = KB,
    first_kb: KnowledgeBase = KB,
) -> list[str]:
    memo.clear_patient_memos()
    assess(first[0], first_kb, first[1], guideline=first[2])
    got = assess(second[0], kb, second[1], guideline=second[2])
    with memo.bypassed():
        want = assess(second[0], kb, second[1], guideline=second[2])
    return _differences(got, want)


@pytest.fixture(scope="module")
def keyed_cases() -> list[tuple[Case, date, GuidelineViewName, treatment.TreatmentKey]]:
    return _keyed_cases()


@pytest.mark.parametrize("component", treatment.TreatmentKey._fields)
def test_dropping_any_key_component_gives_a_wrong_answer(
    component: str,
    keyed_cases: list[tuple[Case, date, GuidelineViewName, treatment.TreatmentKey]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two patients whose keys differ only in ``component`` get different answers, so a
    memo keyed without it answers the second with the first's options."""
    if component == "knowledge_base":
        case = next(
            c[:3]
            for c in keyed_cases
            if any(
                r.rule == "therapy.contraindications-unknown"
                for r in assess(c[0], KB, c[1], guideline=c[2]).systemic_therapy.reasons
            )
        )
        assert _wrong_after(case, case, _other_kb()) == []
        monkeypatch.setattr(treatment, "treatment_key", _without(component))
        assert _wrong_after(case, case, _other_kb()), "a key without the KB went unnoticed"
        return
    groups: dict[treatment.TreatmentKey, list[int]] = {}
    for number, (*_, key) in enumerate(keyed_cases):
        groups.setdefault(key._replace(**{component: None}), []).append(number)
    pairs = [
        (keyed_cases[g[0]][:3], keyed_cases[other][:3])
        for g in groups.values()
        for other in g[1:]
        if getattr(keyed_cases[g[0]][3], component) != getattr(keyed_cases[other][3], component)
    ]
    if not pairs and component in _CO_VARYING:
        pytest.skip(f"{component} never differs alone here: {_CO_VARYING[component]}")
    assert pairs, f"no two cases differ in {component} alone"
    for first, second in pairs[:3]:
        assert _wrong_after(first, second) == []
    monkeypatch.setattr(treatment, "treatment_key", _without(component))
    noticed = any(_wrong_after(first, second) for first, second in pairs)
    if not noticed and component in _CO_VARYING:
        pytest.skip(f"{component} never changes an answer alone here: {_CO_VARYING[component]}")
    assert noticed, f"a key without {component} went unnoticed"


#: Components no example, vignette or edit of one changes alone; kept in the key because
#: the decision reads them (a key may hold more than it needs, never less).
_CO_VARYING = {
    "exposure": "the classes received change with the agents received (prior_agents)",
    "adjuvant_agents": "adjuvant therapy also changes the line's reasons (line_reasons)",
    "no_evidence_of_disease": (
        "read only for proposed pembrolizumab alone during a current line after complete "
        "resection; otherwise NED takes the adjuvant branch, which is not memoised"
    ),
}


# --- every example and vignette ---------------------------------------------------------


def _all_cases() -> list[tuple[str, Case, date, GuidelineViewName]]:
    cases: list[tuple[str, Case, date, GuidelineViewName]] = []
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        on = date.fromisoformat(str(raw["assessment_date"]))
        case = read_input(path.read_bytes(), name=path.name, on=on, kb=KB, today=on).case
        cases.extend((path.stem, case, on, view) for view in VIEWS)
    shared = ROOT.parent / "shared" / "vignettes"
    for path in sorted(shared.glob("*.json")):
        if path.name.endswith(".expected.json"):
            continue
        expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
        on = date.fromisoformat(expected["on"])
        case = read_input(path.read_bytes(), name=path.name, on=on, kb=KB, today=on).case
        cases.append((path.stem, case, on, "all"))
    for path in sorted((ROOT / "tests" / "vignettes" / "cases").glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        expected = document.pop("expected")
        document.pop("xfail_reason", None)
        on = date.fromisoformat(str(expected["on"]))
        view = expected.get("guideline", "all")
        cases.append((path.stem, Case.model_validate(document), on, view))
    return cases


def test_every_example_and_vignette_memoised_equals_computed() -> None:
    cases = _all_cases()
    assert len(cases) > 100
    for _, case, on, view in cases:  # fill the memo with every other patient's answers
        assess(case, KB, on, guideline=view)
    wrong = []
    for name, case, on, view in cases:
        got = assess(case, KB, on, guideline=view)
        with memo.bypassed():
            want = assess(case, KB, on, guideline=view)
        if _differences(got, want):
            wrong.append(f"{name} ({view}): {_differences(got, want)}")
    assert not wrong


def test_memos_are_bounded_and_clearing_changes_nothing() -> None:
    for cache in memo.memos():
        assert 0 < cache.maxsize <= 100_000, cache.name
    case = Case.model_validate({"diagnosis": {"histology": "clear-cell"}})
    before = assess(case, KB, ON)
    limited = memo.Memo[int, int]("test", "patient", 3)
    for i in range(10):
        limited.put(i, i)
    assert list(limited) == [7, 8, 9]
    memo.clear_patient_memos()
    assert not treatment._MEMO and not limited
    assert assess(case, KB, ON) == before
