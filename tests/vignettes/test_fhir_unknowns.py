"""Issue 8 (Wrong): with FHIR input an unknown never reads "not recommended".

FHIR records rarely carry lesion counts, resectability judgements or the criteria for
cytoreductive nephrectomy; before the fix every FHIR patient (42/42) read metastasectomy
"not-recommended" because lesion counts were unknown. The rule: an unknown input never
yields "not-recommended" where knowing it could yield "consider".

Each FHIR patient here (the shared FHIR vignettes, patients from ``cohort synth`` and a
small Bundle built below) is read with the FHIR reader, then every way of filling the
decision's unknown inputs is tried. If any completion reads "consider…", the patient's own
answer must not be "not-recommended"; it reads "uncertain" and names what would settle it.
``test_the_check_catches_the_old_behaviour`` shows the check fails on the behaviour the
issue reported.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.adapters.fhir import builders as fb

from rccnav.adapters.cohort import synth
from rccnav.adapters.intake import read_input
from rccnav.core.assess import assess
from rccnav.core.assessment import Decision
from rccnav.core.case import Case
from rccnav.core.decisions import active_surveillance, cytoreductive_nephrectomy, metastasectomy
from rccnav.core.decisions.lines import current_line
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

KB: KnowledgeBase = default_knowledge_base()
SHARED = Path(__file__).resolve().parents[3] / "shared" / "vignettes"
if not SHARED.is_dir():  # a worktree under /work/wt/<name>
    SHARED = Path("/work/shared/vignettes")
SYNTH_ON = date(2026, 6, 30)  # the synthetic export's data cut-off
SYNTH_COUNT = 40


@dataclass(frozen=True)
class FhirPatient:
    name: str
    case: Case
    on: date


def _shared() -> Iterator[FhirPatient]:
    for path in sorted(SHARED.glob("p*.json")):
        if path.name.endswith(".expected.json"):
            continue
        on = date.fromisoformat(
            json.loads(path.with_name(path.stem + ".expected.json").read_text())["on"]
        )
        intake = read_input(path.read_bytes(), name=path.name, on=on, kb=KB)
        yield FhirPatient(path.stem, intake.case, on)


def _synthetic() -> Iterator[FhirPatient]:
    for number, (resources, _) in enumerate(synth.patients(SYNTH_COUNT, seed=8)):
        document = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        try:
            intake = read_input(orjson.dumps(document), name=f"synth-{number}", on=SYNTH_ON, kb=KB)
        except Exception:  # the generator's deliberately unusable records (no RCC diagnosis)
            continue
        yield FhirPatient(f"synth-{number}", intake.case, SYNTH_ON)


def _built() -> Iterator[FhirPatient]:
    """A synchronous patient, primary in place, lung and bone metastases as Conditions only:
    no lesion count, resectability, renal share or symptoms anywhere in the record."""
    resources = fb.base(
        fb.condition(fb.ICD10CM, "C78.00", onset="2026-09-20"),
        fb.condition(fb.ICD10CM, "C79.51", onset="2026-09-20"),
        fb.score("89243-0", 90),
    )
    intake = fb.read(resources)
    yield FhirPatient("built-conditions-only", intake.case, fb.ON)


PATIENTS = [*_shared(), *_synthetic(), *_built()]


# --- what each decision reads, and the values each unknown could take ---------------------


def _metastasectomy_completions(case: Case) -> Iterator[Case]:
    d = case.disease
    sites = [[None] if m.lesions is not None else [1, 6] for m in d.metastases]
    resectable = [[None] if m.resectable is not None else [True, False] for m in d.metastases]
    kps = [None] if case.performance is not None else [60, 90]
    for counts in itertools.product(*sites):
        for judged in itertools.product(*resectable):
            for score in kps:
                metastases = tuple(
                    m.model_copy(
                        update={
                            "lesions": m.lesions if n is None else n,
                            "resectable": m.resectable if r is None else r,
                        }
                    )
                    for m, n, r in zip(d.metastases, counts, judged, strict=True)
                )
                update: dict[str, Any] = {
                    "disease": d.model_copy(update={"metastases": metastases})
                }
                if score is not None:
                    update["performance"] = {"kps": score, "date": None}
                yield case.model_validate({**case.model_dump(), **_dumped(update)})


def _dumped(update: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.model_dump() if hasattr(v, "model_dump") else v) for k, v in update.items()}


_CN_FIELDS = (
    "resectable",
    "renal_share_of_burden",
    "bleeding",
    "pain",
    "paraneoplastic_syndrome",
    "contralateral_kidney_normal",
)
_CN_VALUES: dict[str, tuple[Any, ...]] = {
    "renal_share_of_burden": ("high", "low"),
}


def _cn_completions(case: Case) -> Iterator[Case]:
    p = case.primary_tumour
    unknown = [f for f in _CN_FIELDS if getattr(p, f) is None]
    choices = [_CN_VALUES.get(f, (True, False)) for f in unknown]
    for values in itertools.product(*choices):
        primary = {**p.model_dump(), **dict(zip(unknown, values, strict=True))}
        yield case.model_validate({**case.model_dump(), "primary_tumour": primary})


def _surveillance_completions(case: Case) -> Iterator[Case]:
    d = case.disease
    fields = {
        "symptomatic_metastases": d.symptomatic_metastases,
        "rapidly_progressing": d.rapidly_progressing,
    }
    unknown = [f for f, v in fields.items() if v is None]
    sarcomatoid = (
        [case.diagnosis.sarcomatoid] if case.diagnosis.sarcomatoid is not None else [True, False]
    )
    for values in itertools.product(*[(True, False)] * len(unknown)):
        for sarc in sarcomatoid:
            data = case.model_dump()
            data["disease"].update(dict(zip(unknown, values, strict=True)))
            data["diagnosis"]["sarcomatoid"] = sarc
            yield case.model_validate(data)


Decide = Callable[[Case, date], Decision]


def _decide_metastasectomy(case: Case, on: date) -> Decision:
    m = metastasectomy.decide(case, KB, on)
    return Decision(m.recommendation, m.reasons, m.unknowns)


def _decide_cn(case: Case, on: date) -> Decision:
    a = assess(case, KB, on)
    return cytoreductive_nephrectomy.decide(case, a.imdc, KB, a.mskcc)


def _decide_surveillance(case: Case, on: date) -> Decision:
    a = assess(case, KB, on)
    return active_surveillance.decide(case, a.imdc, current_line(case, KB, on), KB)


DECISIONS: dict[str, tuple[Decide, Callable[[Case], Iterator[Case]]]] = {
    "metastasectomy": (_decide_metastasectomy, _metastasectomy_completions),
    "cytoreductive nephrectomy": (_decide_cn, _cn_completions),
    "active surveillance": (_decide_surveillance, _surveillance_completions),
}


def violations(
    decide: Decide, completions: Callable[[Case], Iterator[Case]], patient: FhirPatient
) -> list[str]:
    """Why this patient's answer breaks the rule (empty when it holds)."""
    own = decide(patient.case, patient.on)
    problems: list[str] = []
    if own.recommendation == "not-recommended":
        for completed in completions(patient.case):
            known = decide(completed, patient.on).recommendation
            if known.startswith("consider"):
                problems.append(
                    f"'not-recommended' although knowing the unknowns could read {known!r}"
                )
                break
    if own.recommendation == "uncertain":
        named = " ".join(r.text for r in own.reasons)
        if not own.unknowns or "would be settled by" not in named:
            problems.append(f"'uncertain' without naming what would settle it: {own.reasons}")
    return problems


@pytest.mark.parametrize("patient", PATIENTS, ids=[p.name for p in PATIENTS])
@pytest.mark.parametrize("decision", sorted(DECISIONS))
def test_an_unknown_never_reads_not_recommended(patient: FhirPatient, decision: str) -> None:
    decide, completions = DECISIONS[decision]
    assert not violations(decide, completions, patient), (decision, patient.name)


def test_there_are_fhir_patients_with_unknown_lesion_counts() -> None:
    """The FHIR patients exercise the rule: most lack lesion counts, and those with nothing
    else against metastasectomy read "uncertain", not "not-recommended"."""
    assert len(PATIENTS) >= 40
    unknown = [p for p in PATIENTS if any(m.lesions is None for m in p.case.disease.metastases)]
    assert len(unknown) >= 20
    answers = [metastasectomy.decide(p.case, KB, p.on).recommendation for p in unknown]
    assert "uncertain" in answers
    assert answers.count("not-recommended") < len(answers)


def test_the_built_bundle_reads_uncertain_naming_what_would_settle_it() -> None:
    patient = next(p for p in PATIENTS if p.name == "built-conditions-only")
    result = assess(patient.case, KB, patient.on)
    assert result.metastasectomy.recommendation == "uncertain"
    assert "number of lesions at each site" in result.metastasectomy.unknowns
    assert result.cytoreductive_nephrectomy.recommendation != "not-recommended"


def test_the_check_catches_the_old_behaviour() -> None:
    """Before the fix an unknown lesion count read "not-recommended"; the check must fail it."""

    def old(case: Case, on: date) -> Decision:
        if any(m.lesions is None for m in case.disease.metastases):
            return Decision("not-recommended", ())
        return _decide_metastasectomy(case, on)

    patient = next(p for p in PATIENTS if p.name == "built-conditions-only")
    assert violations(old, _metastasectomy_completions, patient)
    assert not violations(_decide_metastasectomy, _metastasectomy_completions, patient)
