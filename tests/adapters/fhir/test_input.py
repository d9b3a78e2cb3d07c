"""Input shapes: Bundle types, NDJSON, single resources, references, bad input."""

from __future__ import annotations

import orjson
import pytest

from rccnav.adapters.errors import InputError

from .builders import (
    ON,
    SUBJECT,
    administration,
    base,
    bundle,
    concept,
    lab,
    patient,
    primary,
    read,
    warnings_about,
)


@pytest.mark.parametrize(
    "kind", ["collection", "searchset", "transaction", "batch", "document", "transaction-response"]
)
def test_every_bundle_type_is_read(kind: str) -> None:
    intake = read(bundle(*base(lab("718-7", 13.0, "g/dL")), kind=kind))
    assert intake.case.labs.hemoglobin is not None
    assert intake.summary.kind == f"fhir-bundle ({kind})"


def test_ndjson_one_resource_per_line() -> None:
    lines = b"\n".join(orjson.dumps(r) for r in base(lab("718-7", 13.0, "g/dL"))) + b"\n"
    intake = read(lines)
    assert intake.summary.kind == "fhir-ndjson"
    assert intake.case.labs.hemoglobin is not None


def test_urn_uuid_full_urls() -> None:
    intake = read(bundle(*base(lab("718-7", 13.0, "g/dL")), urn=True))
    assert intake.case.labs.hemoglobin is not None


def test_nested_bundle_is_flattened() -> None:
    inner = bundle(lab("718-7", 13.0, "g/dL"), kind="searchset")
    outer = bundle(patient(), primary())
    outer["entry"].append({"resource": inner})
    assert read(outer).case.labs.hemoglobin is not None


def test_entry_without_resource_is_counted() -> None:
    document = bundle(*base(), kind="transaction-response")
    document["entry"].append({"response": {"status": "201 Created"}})
    summary = read(document).summary
    assert summary.unused["Bundle.entry without resource"] == 1


def test_duplicate_resource_is_read_once_and_counted() -> None:
    hb = lab("718-7", 13.0, "g/dL")
    intake = read(bundle(*base(hb, hb), kind="searchset"))
    assert intake.summary.used["Observation"] == 1
    assert intake.summary.unused["Observation"] == 1
    assert any("repeated" in w.message for w in intake.warnings)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"not json at all", "not JSON"),
        (b'{"hook": "patient-view", "context": {}}', "CDS Hooks"),
        (b'{"foo": 1}', "no resourceType"),
        (b"[1, 2]", "not a FHIR resource"),
        (b'{"resourceType":"Patient"}\n{oops', "line 2"),
    ],
)
def test_unusable_input_is_an_input_error(data: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read(data)


def test_no_patient() -> None:
    with pytest.raises(InputError, match="no Patient"):
        read(bundle(primary(), lab("718-7", 13.0, "g/dL")))


def test_two_different_patients_named_by_position_not_id() -> None:
    other = patient()
    other["id"] = "mrn-0042"
    with pytest.raises(InputError, match="2 different Patient") as error:
        read(bundle(patient(), other, primary()))
    assert "mrn-0042" not in str(error.value)


def test_data_about_another_patient_is_set_aside() -> None:
    stray = lab("718-7", 13.0, "g/dL", subject={"reference": "Patient/someone-else"})
    intake = read(base(stray))
    assert intake.case.labs.hemoglobin is None
    assert warnings_about(intake, "another Patient (Patient/someone-else)")


def test_absolute_subject_url_to_the_patients_full_url_is_accepted() -> None:
    url = "http://example.org/fhir/Patient/pat-1"  # the builder's fullUrl for the Patient
    hb = lab("718-7", 13.0, "g/dL", subject={"reference": url})
    assert read(base(hb)).case.labs.hemoglobin is not None


def test_no_rcc_diagnosis() -> None:
    flu = primary(code="J10.1", morphology=None)
    with pytest.raises(InputError, match="no renal cell carcinoma"):
        read(bundle(patient(), flu))


def test_single_resource_without_patient() -> None:
    with pytest.raises(InputError, match="no Patient"):
        read(lab("718-7", 13.0, "g/dL"))


def test_medication_reference_to_a_missing_resource_names_it() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "rx-1",
        "status": "draft",
        "intent": "proposal",
        "medicationReference": {"reference": "Medication/absent"},
        "subject": SUBJECT,
    }
    with pytest.raises(InputError, match="MedicationRequest/rx-1"):
        read(base(order))


def test_contained_medication_is_resolved() -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "rx-2",
        "contained": [
            {"resourceType": "Medication", "id": "med", "code": {"text": "Cabometyx 60 MG"}}
        ],
        "status": "draft",
        "intent": "proposal",
        "medicationReference": {"reference": "#med"},
        "subject": SUBJECT,
    }
    proposed = read(base(order)).case.proposed_therapy
    assert proposed is not None and proposed.agents == ("cabozantinib",)


def test_medication_resource_in_the_bundle_by_urn() -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m1",
        "code": concept("http://www.whocc.no/atc", "L01EX01", "sunitinib"),
    }
    order = {
        "resourceType": "MedicationStatement",
        "id": "ms-1",
        "status": "completed",
        "medicationReference": {"reference": "urn:uuid:11111111-2222-4333-8444-555555555555"},
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-06-01"},
        "subject": SUBJECT,
    }
    document = bundle(*base(order))
    document["entry"].append(
        {"fullUrl": "urn:uuid:11111111-2222-4333-8444-555555555555", "resource": medication}
    )
    intake = read(document)
    assert [t.agents for t in intake.case.prior_therapies] == [("sunitinib",)]
    # Read through the statement: counted as used, not as left unread.
    assert intake.summary.used.get("Medication") == 1
    assert "Medication" not in intake.summary.unused


def test_medication_counts_as_used_only_through_a_resource_that_was_used() -> None:
    """The combination product and its ingredient are used through the administration; a
    Medication named only by an administration after the assessment date stays unused."""
    combination = {
        "resourceType": "Medication",
        "id": "combo",
        "code": {"text": "trial combination"},
        "ingredient": [{"itemReference": {"reference": "Medication/ingredient"}}],
    }
    ingredient = {
        "resourceType": "Medication",
        "id": "ingredient",
        "code": concept("http://www.whocc.no/atc", "L01EX01", "sunitinib"),
    }
    later = {
        "resourceType": "Medication",
        "id": "later",
        "code": concept("http://www.whocc.no/atc", "L01EX07", "cabozantinib"),
    }
    given = administration("", "2025-01-01", "2025-06-01", id="given")
    given.pop("medicationCodeableConcept")
    given["medicationReference"] = {"reference": "Medication/combo"}
    future = administration("", "2026-11-25", id="future")
    future.pop("medicationCodeableConcept")
    future["medicationReference"] = {"reference": "Medication/later"}
    intake = read(base(given, future, combination, ingredient, later))
    assert [t.agents for t in intake.case.prior_therapies] == [("sunitinib",)]
    assert intake.summary.used.get("Medication") == 2
    assert intake.summary.unused.get("Medication") == 1
    assert intake.summary.unused.get("MedicationAdministration") == 1


@pytest.mark.parametrize(
    ("full_url", "reference"),
    [
        (None, "Medication/m7"),
        ("https://fhir.example.org/r4/Medication/m7", "Medication/m7"),
        ("https://fhir.example.org/r4/Medication/m7", "https://fhir.example.org/r4/Medication/m7"),
        (None, "Medication/m7/_history/2"),
    ],
)
def test_medication_resource_in_the_bundle_by_relative_or_absolute_reference(
    full_url: str | None, reference: str
) -> None:
    medication = {
        "resourceType": "Medication",
        "id": "m7",
        "code": concept("http://www.whocc.no/atc", "L01EX07", "cabozantinib"),
    }
    given = {
        "resourceType": "MedicationAdministration",
        "id": "ma-7",
        "status": "completed",
        "medicationReference": {"reference": reference},
        "effectivePeriod": {"start": "2025-01-01", "end": "2025-06-01"},
        "subject": SUBJECT,
    }
    document = bundle(*base(given))
    document["entry"].append({"fullUrl": full_url, "resource": medication})
    intake = read(document)
    assert [t.agents for t in intake.case.prior_therapies] == [("cabozantinib",)]


def test_summary_counts_every_resource() -> None:
    resources = base(
        lab("718-7", 13.0, "g/dL"),
        {"resourceType": "Encounter", "id": "e1", "status": "finished", "subject": SUBJECT},
        {"resourceType": "Organization", "id": "o1"},
    )
    summary = read(resources).summary
    assert sum(summary.used.values()) + sum(summary.unused.values()) == len(resources)
    assert summary.used == {"Condition": 1, "Observation": 1, "Patient": 1}
    assert summary.unused == {"Encounter": 1, "Organization": 1}


def test_case_id_is_opaque() -> None:
    case = read(base()).case
    assert case.case_id is not None and "pat-1" not in case.case_id


def test_prefetch_style_resources_are_indexed_and_read() -> None:
    from rccnav.adapters.fhir import index_resources, read_index
    from rccnav.knowledge.loader import default_knowledge_base

    resources = [patient(), bundle(primary(), lab("718-7", 13.0, "g/dL"), kind="searchset")]
    index = index_resources(resources, "cds-hooks-prefetch")
    intake = read_index(
        index, name="prefetch", on=ON, lookback_days=None, kb=default_knowledge_base()
    )
    assert intake.case.labs.hemoglobin is not None
    assert intake.summary.kind == "cds-hooks-prefetch"
