"""One entry for every input rccnav reads: detect the format, produce a Case.

A case file (JSON or YAML) and a FHIR R4 Bundle, single resource or NDJSON export
all end as an :class:`Intake`: the Case plus what the reader noticed on the way
(warnings, items it could not use) and a summary of what it read. The CLI, the
service and batch jobs then call :func:`assess_input`, so every path reaches the
one ``assess``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from rccnav.adapters.casefile import case_from_document, decode_text, read_document
from rccnav.adapters.errors import InputError
from rccnav.adapters.fhir.bundle import gc_paused
from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment, GuidelineViewName, InputSummary, Warning
from rccnav.core.case import Case
from rccnav.knowledge.model import KnowledgeBase


@dataclass(frozen=True)
class Intake:
    case: Case
    warnings: tuple[Warning, ...]
    ignored: tuple[str, ...]
    summary: InputSummary
    #: ``Patient/<id>`` of the input's Patient when it has an id (FHIR input), so
    #: FHIR output can point its subjects at it.
    patient_reference: str | None = None


def _is_ndjson(text: str) -> bool:
    """Several JSON objects, one per line, the first a FHIR resource (a bulk export).

    A pretty-printed JSON document never qualifies: its first line alone is not a
    complete object, and a one-line document has no second line.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        first = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        return False
    return isinstance(first, dict) and "resourceType" in first


def _is_fhir(data: Any) -> bool:
    return isinstance(data, dict) and "resourceType" in data


def _read_fhir(
    raw: bytes | dict[str, Any],
    name: str,
    on: date,
    lookback_days: int | None,
    kb: KnowledgeBase | None,
) -> Intake:
    try:
        from rccnav.adapters.fhir.reader import read_fhir
    except ImportError as exc:
        raise InputError(
            "this is FHIR input, but FHIR input is not available in this installation",
            where=name,
        ) from exc
    if kb is None:
        from rccnav.knowledge.loader import default_knowledge_base

        kb = default_knowledge_base()
    intake: Intake = read_fhir(raw, name=name, on=on, lookback_days=lookback_days, kb=kb)
    return intake


def _case_summary(case: Case, kind: str) -> InputSummary:
    labs = sum(1 for value in case.labs.model_dump().values() if value is not None)
    used = {
        "labs": labs,
        "metastases": len(case.disease.metastases),
        "prior_therapies": len(case.prior_therapies),
        "proposed_therapy": int(case.proposed_therapy is not None),
        "performance": int(case.performance is not None),
    }
    return InputSummary(kind=kind, used={k: v for k, v in used.items() if v})


def read_input(
    raw: bytes,
    *,
    name: str = "<input>",
    on: date | None = None,
    lookback_days: int | None = None,
    kb: KnowledgeBase | None = None,
    today: date | None = None,
) -> Intake:
    """Read a case file or FHIR input; raise :class:`InputError` if it is unusable.

    ``on`` is the assessment date the FHIR reader uses to choose current data;
    ``today`` (default: the real date) is what "a date in the future" means.
    """
    text = decode_text(raw, name)
    on = on or date.today()
    # The cyclic GC stays paused for the whole read of a large input, mapping included:
    # its passes over the decoded tree found nothing to free and were 43% of the time
    # of a 50,000-resource Bundle.
    with gc_paused(len(raw)):
        if _is_ndjson(text):
            return _read_fhir(raw, name, on, lookback_days, kb)
        document = read_document(text, name)
        if _is_fhir(document.data):
            # Already decoded: hand the document over rather than parse the bytes again.
            return _read_fhir(document.data, name, on, lookback_days, kb)
    case = case_from_document(document, name, today)
    kind = f"case-file ({document.kind})"
    return Intake(case=case, warnings=(), ignored=(), summary=_case_summary(case, kind))


def assess_input(
    intake: Intake,
    kb: KnowledgeBase,
    on: date,
    *,
    lookback_days: int | None = None,
    guideline: GuidelineViewName = "all",
) -> Assessment:
    """Assess the intake's Case and carry the reader's findings into the Assessment.

    An assessment date before the diagnosis is refused: nothing about a patient can be
    assessed before the cancer is known, and it is almost always a typo in one of the two.
    """
    diagnosed = intake.case.diagnosis.date
    if diagnosed is not None and on < diagnosed:
        raise InputError(
            f"the assessment date {on} is before the RCC diagnosis ({diagnosed}); check both dates",
            where=intake.case.diagnosis.source or "diagnosis.date",
        )
    assessment = assess(intake.case, kb, on, lookback_days=lookback_days, guideline=guideline)
    return dataclasses.replace(
        assessment,
        warnings=(*intake.warnings, *assessment.warnings),
        ignored_data=(*assessment.ignored_data, *intake.ignored),
        input_summary=intake.summary,
    )
