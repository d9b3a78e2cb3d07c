"""Builders for the FHIR shapes real systems send, used by the reader tests."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import orjson

from rccnav.adapters.fhir.reader import read_fhir
from rccnav.adapters.intake import Intake
from rccnav.knowledge.loader import default_knowledge_base

JSON = dict[str, Any]
ON = date(2026, 11, 1)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
UCUM = "http://unitsofmeasure.org"
PATIENT_ID = "pat-1"
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}
HISTOLOGY_EXT = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
)

_ids = itertools.count(1)


def new_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def concept(system: str, code: str, display: str | None = None, text: str | None = None) -> JSON:
    coding: JSON = {"system": system, "code": code}
    if display:
        coding["display"] = display
    result: JSON = {"coding": [coding]}
    if text:
        result["text"] = text
    return result


def patient(gender: str = "male", birth: str = "1960-01-01", **extra: Any) -> JSON:
    return {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "gender": gender,
        "birthDate": birth,
        **extra,
    }


def primary(
    code: str = "C64.1",
    system: str = ICD10CM,
    morphology: str | None = "8310/3",
    onset: str | None = "2024-03-15",
    **extra: Any,
) -> JSON:
    resource: JSON = {
        "resourceType": "Condition",
        "id": extra.pop("id", new_id("primary")),
        "clinicalStatus": concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
        ),
        "code": concept(system, code),
        "subject": SUBJECT,
    }
    if morphology:
        resource["extension"] = [
            {"url": HISTOLOGY_EXT, "valueCodeableConcept": concept(ICDO3, morphology)}
        ]
    if onset:
        resource["onsetDateTime"] = onset
    resource.update(extra)
    return resource


def condition(system: str, code: str, onset: str | None = "2026-09-20", **extra: Any) -> JSON:
    resource: JSON = {
        "resourceType": "Condition",
        "id": extra.pop("id", new_id("condition")),
        "code": concept(system, code),
        "subject": SUBJECT,
    }
    if onset:
        resource["onsetDateTime"] = onset
    resource.update(extra)
    return resource


def lab(
    loinc: str,
    value: float | None,
    unit: str | None = None,
    when: str | None = "2026-10-25",
    low: float | None = None,
    high: float | None = None,
    status: str = "final",
    **extra: Any,
) -> JSON:
    resource: JSON = {
        "resourceType": "Observation",
        "id": extra.pop("id", new_id("obs")),
        "status": status,
        "code": concept(LOINC, loinc),
        "subject": SUBJECT,
    }
    if when:
        resource["effectiveDateTime"] = when
    if value is not None:
        quantity: JSON = {"value": value}
        if unit:
            quantity.update({"unit": unit, "system": UCUM, "code": unit})
        resource["valueQuantity"] = quantity
    if low is not None or high is not None:
        ref: JSON = {}
        if low is not None:
            ref["low"] = {"value": low, "unit": unit, "system": UCUM, "code": unit}
        if high is not None:
            ref["high"] = {"value": high, "unit": unit, "system": UCUM, "code": unit}
        resource["referenceRange"] = [ref]
    resource.update(extra)
    return resource


def score(loinc: str, value: int, when: str = "2026-10-25", **extra: Any) -> JSON:
    return {
        "resourceType": "Observation",
        "id": extra.pop("id", new_id("ps")),
        "status": "final",
        "code": concept(LOINC, loinc),
        "subject": SUBJECT,
        "effectiveDateTime": when,
        "valueInteger": value,
        **extra,
    }


def procedure(system: str, code: str, when: str | None = "2024-02-01", **extra: Any) -> JSON:
    resource: JSON = {
        "resourceType": "Procedure",
        "id": extra.pop("id", new_id("proc")),
        "status": "completed",
        "code": concept(system, code),
        "subject": SUBJECT,
    }
    if when:
        resource["performedDateTime"] = when
    resource.update(extra)
    return resource


def administration(
    text: str, start: str, end: str | None = None, status: str = "completed", **extra: Any
) -> JSON:
    resource: JSON = {
        "resourceType": "MedicationAdministration",
        "id": extra.pop("id", new_id("admin")),
        "status": status,
        "medicationCodeableConcept": {"text": text},
        "subject": SUBJECT,
    }
    if end:
        resource["effectivePeriod"] = {"start": start, "end": end}
    else:
        resource["effectiveDateTime"] = start
    resource.update(extra)
    return resource


def request(text: str, status: str = "draft", intent: str = "proposal", **extra: Any) -> JSON:
    return {
        "resourceType": "MedicationRequest",
        "id": extra.pop("id", new_id("req")),
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": {"text": text},
        "subject": SUBJECT,
        "authoredOn": "2026-10-25",
        **extra,
    }


def bundle(*resources: JSON, kind: str = "collection", urn: bool = False) -> JSON:
    entries = []
    for resource in resources:
        full_url = (
            f"urn:uuid:00000000-0000-4000-8000-{abs(hash(resource['id'])) % 10**12:012d}"
            if urn
            else f"http://example.org/fhir/{resource['resourceType']}/{resource['id']}"
        )
        entries.append({"fullUrl": full_url, "resource": resource})
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


def base(*resources: JSON) -> list[JSON]:
    """A patient with a clear-cell primary plus the given resources."""
    return [patient(), primary(), *resources]


def read(document: JSON | list[JSON] | bytes, on: date = ON, lookback: int | None = None) -> Intake:
    if isinstance(document, list):
        document = bundle(*document)
    data = document if isinstance(document, bytes) else orjson.dumps(document)
    return read_fhir(
        data, name="test.json", on=on, lookback_days=lookback, kb=default_knowledge_base()
    )


def warnings_about(intake: Intake, text: str) -> list[str]:
    return [w.message for w in intake.warnings if text in w.message]


ATC = "http://www.whocc.no/atc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CTCAE_GRADE_EXT = "http://hl7.org/fhir/us/ctcae/StructureDefinition/ctcae-grade"
CTCAE_GRADE = "http://hl7.org/fhir/us/ctcae/CodeSystem/ctcae-grade-code-system"


def statement(
    medication: JSON,
    status: str = "active",
    start: str | None = "2026-09-01",
    end: str | None = None,
    dosage: list[JSON] | None = None,
    **extra: Any,
) -> JSON:
    """A MedicationStatement (``medication`` is a CodeableConcept)."""
    resource: JSON = {
        "resourceType": "MedicationStatement",
        "id": extra.pop("id", new_id("stmt")),
        "status": status,
        "medicationCodeableConcept": medication,
        "subject": SUBJECT,
    }
    period: JSON = {}
    if start:
        period["start"] = start
    if end:
        period["end"] = end
    if period:
        resource["effectivePeriod"] = period
    if dosage is not None:
        resource["dosage"] = dosage
    resource.update(extra)
    return resource


def dose(mg: float, unit: str = "mg", per_day: int | None = 1, code: str | None = None) -> JSON:
    """A Dosage: ``mg`` per administration, ``per_day`` times a day (or a timing code)."""
    dosage: JSON = {
        "doseAndRate": [{"doseQuantity": {"value": mg, "unit": unit, "system": UCUM, "code": unit}}]
    }
    if code is not None:
        dosage["timing"] = {"code": {"coding": [{"code": code}]}}
    elif per_day is not None:
        dosage["timing"] = {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}}
    return dosage


def adverse_event(
    event: JSON, grade: str | None = None, suspect: str | None = None, **extra: Any
) -> JSON:
    resource: JSON = {
        "resourceType": "AdverseEvent",
        "id": extra.pop("id", new_id("ae")),
        "actuality": "actual",
        "subject": SUBJECT,
        "event": event,
        "date": extra.pop("date", "2025-06-01"),
    }
    if grade is not None:
        resource["extension"] = [
            {"url": CTCAE_GRADE_EXT, "valueCodeableConcept": concept(CTCAE_GRADE, grade)}
        ]
    if suspect is not None:
        resource["suspectEntity"] = [{"instance": {"reference": suspect}}]
    resource.update(extra)
    return resource


def allergy(code: JSON, manifestation: JSON | None = None, **extra: Any) -> JSON:
    resource: JSON = {
        "resourceType": "AllergyIntolerance",
        "id": extra.pop("id", new_id("allergy")),
        "patient": SUBJECT,
        "code": code,
        "recordedDate": "2025-07-01",
    }
    if manifestation is not None:
        resource["reaction"] = [{"manifestation": [manifestation]}]
    resource.update(extra)
    return resource
