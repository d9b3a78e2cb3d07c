"""Lesion counts, resectability, renal share, NED and best response (docs/fhir-input.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rccnav.core.case import RenalShare, Response, Site

from .builders import (
    ICD10CM,
    LOINC,
    SNOMED,
    administration,
    base,
    concept,
    condition,
    new_id,
    primary,
    read,
    warnings_about,
)

TUMOR = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-tumor"
RELATED = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-related-condition"
STATUS = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-cancer-disease-status"
EXTERNAL = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "external"


def tumour(condition_id: str | None = None, location: str | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "BodyStructure",
        "id": new_id("tumour"),
        "meta": {"profile": [TUMOR]},
        "morphology": concept(SNOMED, "367651003"),
        "patient": {"reference": "Patient/pat-1"},
    }
    if condition_id:
        resource["extension"] = [
            {"url": RELATED, "valueReference": {"reference": f"Condition/{condition_id}"}}
        ]
    if location:
        resource["location"] = concept(SNOMED, location)
    return resource


def observation(text: str, when: str = "2026-10-20", **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": new_id("obs"),
        "status": "final",
        "code": {"text": text},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": when,
        **value,
    }


def disease_status(code: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": new_id("status"),
        "meta": {"profile": [STATUS]},
        "status": "final",
        "code": concept(LOINC, "97509-4"),
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": when,
        "valueCodeableConcept": concept(SNOMED, code),
    }


def lung_metastasis(rid: str = "lung") -> dict[str, Any]:
    return condition(ICD10CM, "C78.01", id=rid)


def _lung(case: Any) -> Any:
    (lung,) = [m for m in case.disease.metastases if m.site is Site.LUNG]
    return lung


def test_without_a_count_lesions_stay_unknown() -> None:
    assert _lung(read(base(lung_metastasis())).case).lesions is None


def test_one_mcode_tumour_bodystructure_per_lesion() -> None:
    case = read(base(lung_metastasis(), tumour("lung"), tumour("lung"), tumour("lung"))).case
    assert _lung(case).lesions == 3
    assert "BodyStructure/" in (_lung(case).source or "")


def test_tumour_bodystructure_by_location_when_one_condition_per_site() -> None:
    case = read(base(lung_metastasis(), tumour(location="39607008"))).case
    assert _lung(case).lesions == 1


def test_removed_tumour_is_not_counted() -> None:
    gone = tumour("lung")
    gone["active"] = False
    case = read(base(lung_metastasis(), tumour("lung"), gone)).case
    assert _lung(case).lesions == 1


def test_lesion_count_observation_with_focus() -> None:
    count = observation(
        "Number of lung metastases",
        valueInteger=2,
        focus=[{"reference": "Condition/lung"}],
    )
    assert _lung(read(base(lung_metastasis(), count)).case).lesions == 2


def test_lesion_count_in_the_condition_text() -> None:
    solitary = condition(SNOMED, "94391008", id="sol")
    solitary["code"]["text"] = "Solitary pulmonary metastasis"
    assert _lung(read(base(solitary)).case).lesions == 1


def test_multiple_without_a_number_stays_unknown() -> None:
    many = condition(SNOMED, "94391008")
    many["code"]["text"] = "Multiple lung metastases"
    intake = read(base(many))
    assert _lung(intake.case).lesions is None
    assert warnings_about(intake, "without a count")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"valueBoolean": True}, True),
        ({"valueCodeableConcept": concept(LOINC, "LA32-8", "No")}, False),
        ({"valueString": "unresectable"}, False),
    ],
)
def test_metastasis_resectability(value: dict[str, Any], expected: bool) -> None:
    judged = observation(
        "Resectable (tumour board)", focus=[{"reference": "Condition/lung"}], **value
    )
    assert _lung(read(base(lung_metastasis(), judged)).case).resectable is expected


def test_primary_resectability_and_renal_share() -> None:
    kidney = primary(id="rcc")
    judged = observation("Resectable", valueBoolean=True, focus=[{"reference": "Condition/rcc"}])
    share = observation(
        "Share of tumour burden in the kidney",
        valueQuantity={"value": 80, "unit": "%", "code": "%"},
    )
    from .builders import patient

    tumour_primary = read([patient(), kidney, judged, share]).case.primary_tumour
    assert tumour_primary.resectable is True
    assert tumour_primary.renal_share_of_burden is RenalShare.HIGH


def test_low_renal_share() -> None:
    share = observation("Proportion of tumor burden in kidney", valueString="low")
    assert read(base(share)).case.primary_tumour.renal_share_of_burden is RenalShare.LOW


def test_ned_after_local_therapy_from_cancer_disease_status() -> None:
    resected = condition(
        ICD10CM,
        "C78.01",
        onset="2025-06-01",
        clinicalStatus=concept(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"
        ),
    )
    ned = disease_status("103338009", "2026-10-01")
    disease = read(base(resected, ned)).case.disease
    assert disease.no_evidence_of_disease is True
    assert disease.sources["no_evidence_of_disease"] == f"Observation/{ned['id']}"


def test_ned_is_not_taken_when_a_metastasis_is_dated_later() -> None:
    ned = disease_status("103338009", "2026-06-01")
    new = condition(ICD10CM, "C79.51", onset="2026-09-20")
    intake = read(base(new, ned))
    assert intake.case.disease.no_evidence_of_disease is None
    assert warnings_about(intake, "not taken as NED")


def test_ned_without_prior_metastatic_disease_is_not_m1_ned() -> None:
    ned = disease_status("103338009", "2026-10-01")
    assert read(base(ned)).case.disease.no_evidence_of_disease is None


def test_best_response_per_line_from_disease_status() -> None:
    line = administration("cabozantinib", "2025-01-10", "2025-12-01")
    stable = disease_status("359746009", "2025-04-01")
    partial = disease_status("103337004", "2025-07-01")
    after = disease_status("271299001", "2026-03-01")
    metastasis = condition(ICD10CM, "C78.01", onset="2024-12-01")
    (therapy,) = read(base(metastasis, line, stable, partial, after)).case.prior_therapies
    assert therapy.best_response is Response.PARTIAL


def test_improved_is_not_a_recist_response() -> None:
    line = administration("sunitinib", "2025-01-10", "2025-12-01")
    improved = disease_status("268910001", "2025-04-01")
    (therapy,) = read(base(line, improved)).case.prior_therapies
    assert therapy.best_response is None


def test_mcode_stu1_disease_status_example_is_read() -> None:
    # /work/shared/fixtures/external/mcode/ig-stu1-v1.0.1/
    # Observation-mCODECancerDiseaseStatusExample01.json: LOINC 88040-1, value
    # 268910001 "improved" on 2019-04-01 -> recorded, but no RECIST best response.
    path = (
        EXTERNAL / "mcode" / "ig-stu1-v1.0.1" / "Observation-mCODECancerDiseaseStatusExample01.json"
    )
    if not path.is_file():
        pytest.skip("external fixtures not present")
    status = orjson.loads(path.read_bytes())
    status = {**status, "subject": {"reference": "Patient/pat-1"}}
    status.pop("performer")
    line = administration("sunitinib", "2019-01-10", "2019-12-01")
    intake = read(base(line, status))
    (therapy,) = intake.case.prior_therapies
    assert therapy.best_response is None
    assert intake.summary.used.get("Observation") == 1
    # The same shape with "stable" gives stable disease.
    status["valueCodeableConcept"] = concept(SNOMED, "359746009")
    (therapy,) = read(base(line, status)).case.prior_therapies
    assert therapy.best_response is Response.STABLE
