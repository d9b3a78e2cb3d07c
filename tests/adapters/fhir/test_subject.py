"""Subject integrity: only resources that resolve to the one Patient are read.

Defect class (issue 7 item 1): data about someone else, or about no one in
particular, read as this patient's. Every way a reference can fail to reach the
Patient is a variant below; each must leave the value unread, warn naming the
resource, and count it as not used. The accepted forms are the FHIR ways of
pointing at the Patient (relative id, fullUrl, an identifier the Patient carries).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from rccnav.adapters.fhir.subject import SubjectRule, Whose

from .builders import PATIENT_ID, bundle, lab, patient, primary, read, warnings_about

VIGNETTES = Path(__file__).resolve().parents[4] / "shared" / "vignettes"
MRN = {"system": "urn:oid:1.2.36.146.595.217.0.1", "value": "12345"}
RCCNAV = Path(sys.executable).with_name("rccnav")
OTHER_SERVER = "https://other.example/fhir"

#: (label, subject element or None for none, extra fields on the Observation)
FOREIGN: list[tuple[str, Any, dict[str, Any]]] = [
    (
        "contained other patient",
        {"reference": "#p2"},
        {"contained": [{"resourceType": "Patient", "id": "p2", "gender": "female"}]},
    ),
    ("another patient id", {"reference": "Patient/someone-else"}, {}),
    ("absolute URL on another server", {"reference": f"{OTHER_SERVER}/Patient/{PATIENT_ID}"}, {}),
    ("identifier not the patient's", {"identifier": {"system": MRN["system"], "value": "999"}}, {}),
    ("identifier without system", {"identifier": {"value": MRN["value"]}}, {}),
    ("display only", {"display": "John Smith"}, {}),
    ("no subject", None, {}),
    ("a Group, not a Patient", {"reference": "Group/ward-7"}, {}),
    ("urn of another entry", {"reference": "urn:uuid:9f0b7c1e-0000-4000-8000-000000000001"}, {}),
    (
        "conditional on another identifier",
        {"reference": f"Patient?identifier={MRN['system']}|1"},
        {},
    ),
    (
        "right id and a contradicting identifier",
        {"reference": f"Patient/{PATIENT_ID}", "identifier": {**MRN, "value": "77"}},
        {},
    ),
    ("subject is not an object", f"Patient/{PATIENT_ID}", {}),
    (
        "right id declared as another type",
        {"reference": f"Patient/{PATIENT_ID}", "type": "Group"},
        {},
    ),
    ("the patient's identifier declared a Group", {"identifier": MRN, "type": "Group"}, {}),
    (
        "recorded in another patient's encounter",
        {"reference": f"Patient/{PATIENT_ID}"},
        {"encounter": {"reference": "Encounter/enc-p2"}},
    ),
    (
        "recorded in another patient's episode (context)",
        {"reference": f"Patient/{PATIENT_ID}"},
        {"context": {"reference": "Encounter/enc-p2"}},
    ),
]

#: Another patient's Encounter, in the input beside the Observation under test.
FOREIGN_ENCOUNTER = {
    "resourceType": "Encounter",
    "id": "enc-p2",
    "status": "finished",
    "subject": {"reference": "Patient/p2"},
}

ACCEPTED: list[tuple[str, Any]] = [
    ("relative id", {"reference": f"Patient/{PATIENT_ID}"}),
    ("versioned relative id", {"reference": f"Patient/{PATIENT_ID}/_history/3"}),
    ("the Patient's fullUrl", {"reference": f"http://example.org/fhir/Patient/{PATIENT_ID}"}),
    ("an identifier the Patient carries", {"identifier": MRN}),
    ("an identifier declared a Patient", {"identifier": MRN, "type": "Patient"}),
    (
        "conditional on the Patient's identifier",
        {"reference": f"Patient?identifier={MRN['system']}%7C{MRN['value']}"},
    ),
]


def _hb(subject: Any, **extra: Any) -> dict[str, Any]:
    resource = lab("718-7", 9.0, "g/dL", id="hb-foreign", **extra)
    if subject is None:
        del resource["subject"]
    else:
        resource["subject"] = subject
    return resource


@pytest.mark.parametrize(("label", "subject", "extra"), FOREIGN, ids=[f[0] for f in FOREIGN])
def test_a_resource_not_shown_to_be_the_patients_is_not_used(
    label: str, subject: Any, extra: dict[str, Any]
) -> None:
    intake = read([patient(identifier=[MRN]), primary(), FOREIGN_ENCOUNTER, _hb(subject, **extra)])
    assert intake.case.labs.hemoglobin is None, label
    warned = [w for w in intake.warnings if w.source == "Observation/hb-foreign"]
    assert warned and warned[0].code == "data-quality"
    assert "this patient's data" in warned[0].message
    assert intake.summary.unused.get("Observation") == 1
    assert "Observation" not in intake.summary.used


@pytest.mark.parametrize(("label", "subject"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_the_fhir_ways_of_naming_the_patient_are_accepted(label: str, subject: Any) -> None:
    intake = read([patient(identifier=[MRN]), primary(), _hb(subject)])
    assert intake.case.labs.hemoglobin is not None, label
    assert not warnings_about(intake, "this patient's data")


def test_urn_uuid_reference_to_the_patients_full_url() -> None:
    document = bundle(patient(), primary(), _hb(None), urn=True)
    patient_url = document["entry"][0]["fullUrl"]
    document["entry"][2]["resource"]["subject"] = {"reference": patient_url}
    assert read(document).case.labs.hemoglobin is not None


def test_relative_reference_from_an_entry_on_another_server() -> None:
    """FHIR resolves ``Patient/id`` against the referring entry's own server."""
    document = bundle(patient(), primary(), _hb({"reference": f"Patient/{PATIENT_ID}"}))
    document["entry"][2]["fullUrl"] = f"{OTHER_SERVER}/Observation/hb-foreign"
    intake = read(document)
    assert intake.case.labs.hemoglobin is None
    assert warnings_about(intake, OTHER_SERVER)


def test_absolute_reference_without_the_patients_address_is_not_used() -> None:
    """NDJSON carries no fullUrl: an absolute address cannot be checked against it."""
    resources = [
        patient(),
        primary(),
        _hb({"reference": f"https://ehr.example/fhir/Patient/{PATIENT_ID}"}),
    ]
    intake = read(b"\n".join(orjson.dumps(r) for r in resources))
    assert intake.case.labs.hemoglobin is None
    assert warnings_about(intake, "this patient's data")


def test_a_set_aside_resource_cannot_be_reached_by_reference() -> None:
    """A DiagnosticReport about someone else must not date this patient's result."""
    hb = lab("718-7", 13.0, "g/dL", when=None, id="hb-mine")
    report = {
        "resourceType": "DiagnosticReport",
        "id": "rep-other",
        "status": "final",
        "code": {"text": "CBC"},
        "subject": {"reference": "Patient/someone-else"},
        "effectiveDateTime": "2026-10-25",
        "result": [{"reference": "Observation/hb-mine"}],
    }
    intake = read([patient(), primary(), hb, report])
    assert intake.case.labs.hemoglobin is None
    assert any(w.source == "DiagnosticReport/rep-other" for w in intake.warnings)


def test_rcc_diagnosis_about_someone_else_is_not_this_patients_diagnosis() -> None:
    other = primary(subject={"reference": "Patient/someone-else"})
    with pytest.raises(ValueError, match=r"no renal cell carcinoma.*1 resources were set aside"):
        read([patient(), other])


def test_shared_definitions_without_subject_are_not_flagged() -> None:
    medication = {"resourceType": "Medication", "id": "med-1", "code": {"text": "sunitinib"}}
    intake = read([patient(), primary(), medication])
    assert not warnings_about(intake, "this patient's data")


def test_rule_separates_another_patient_from_unattributed() -> None:
    rule = SubjectRule(patient(identifier=[MRN]), f"https://ehr.example/fhir/Patient/{PATIENT_ID}")
    other = rule.judge({"resourceType": "Observation", "subject": {"reference": "Patient/x"}})
    nobody = rule.judge({"resourceType": "Observation", "subject": {"display": "x"}})
    mine = rule.judge(
        {
            "resourceType": "Observation",
            "subject": {"reference": f"https://ehr.example/fhir/Patient/{PATIENT_ID}"},
        }
    )
    assert (other.whose, nobody.whose, mine.whose) == (
        Whose.ANOTHER_PATIENT,
        Whose.UNATTRIBUTED,
        Whose.THIS_PATIENT,
    )


def _full_rule(rule: SubjectRule, resource: dict[str, Any], full_url: str | None) -> Whose:
    """The rule without its short cut for the plain subject: each reference judged in full."""
    for key in ("subject", "patient"):
        if key in resource:
            verdict = rule._judge_reference(resource[key], resource, key, full_url)
            if verdict.whose is not Whose.THIS_PATIENT:
                return verdict.whose
    return Whose.THIS_PATIENT


@pytest.mark.parametrize("patient_id", [PATIENT_ID, f"{PATIENT_ID} ", "a.b-1"])
@pytest.mark.parametrize(
    "full_url", [None, f"{OTHER_SERVER}/Observation/o1", "urn:uuid:0000-1", "Observation/o1"]
)
@pytest.mark.parametrize(
    "subject",
    [
        {"reference": f"Patient/{PATIENT_ID}"},
        {"reference": f"Patient/{PATIENT_ID} "},
        {"reference": f"Patient/{PATIENT_ID}/_history/2"},
        {"reference": "Patient/a.b-1"},
        {"reference": f"Patient/{PATIENT_ID}", "type": "Group"},
        {"reference": f"Patient/{PATIENT_ID}", "identifier": {**MRN, "value": "77"}},
        {"reference": f"Patient/{PATIENT_ID}", "display": "J. Smith"},
        {"reference": f"{OTHER_SERVER}/Patient/{PATIENT_ID}"},
        {"reference": "Patient/someone-else"},
        {"reference": None},
        {"reference": 12},
    ],
)
def test_the_short_cut_for_a_plain_subject_agrees_with_the_full_rule(
    patient_id: str, full_url: str | None, subject: dict[str, Any]
) -> None:
    """``judge`` decides ``{"reference": "Patient/<id>"}`` without the full rule; on
    every reference near that form, with or without an entry fullUrl, it must answer
    as the full rule does (a Patient id with a trailing space never takes the short cut)."""
    own = {**patient(identifier=[MRN]), "id": patient_id}
    rule = SubjectRule(own, f"https://ehr.example/fhir/Patient/{patient_id}")
    for key in ("subject", "patient"):
        resource = {"resourceType": "Observation", key: subject}
        assert rule.judge(resource, full_url).whose is _full_rule(rule, resource, full_url)
    both = {"resourceType": "Observation", "subject": {"reference": f"Patient/{patient_id}"}}
    both["patient"] = subject
    assert rule.judge(both, full_url).whose is _full_rule(rule, both, full_url)


# -- the example, through the CLI ----------------------------------------------


def foreign_platelets(subject: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A normal platelet count, more recent than the patient's own raised one."""
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": "plt-foreign",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "777-3"}]},
        "effectiveDateTime": "2026-10-30",
        "valueQuantity": {
            "value": 250,
            "unit": "10*3/uL",
            "system": "http://unitsofmeasure.org",
            "code": "10*3/uL",
        },
        **(extra or {}),
    }
    if subject is not None:
        resource["subject"] = subject
    return resource


def thrombocytosis_with(resource: dict[str, Any]) -> dict[str, Any]:
    path = VIGNETTES / "p02-thrombocytosis.json"
    if not path.exists():
        pytest.skip("shared vignettes not present")
    document: dict[str, Any] = copy.deepcopy(orjson.loads(path.read_bytes()))
    document["entry"].append({"resource": resource})
    return document


@pytest.mark.parametrize(
    ("label", "subject", "extra"), FOREIGN[:8], ids=[f[0] for f in FOREIGN[:8]]
)
def test_cli_foreign_platelet_count_does_not_move_the_imdc_group(
    tmp_path: Path, label: str, subject: Any, extra: dict[str, Any]
) -> None:
    if isinstance(subject, dict) and subject.get("reference", "").endswith(PATIENT_ID):
        subject = {"reference": f"{OTHER_SERVER}/Patient/a53256ee-eaec-5c3c-804e-71b342751a98"}
    path = tmp_path / "record.json"
    path.write_bytes(orjson.dumps(thrombocytosis_with(foreign_platelets(subject, extra))))
    done = subprocess.run(
        [str(RCCNAV), "assess", str(path), "--on", "2026-11-01", "--format", "json"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    result = orjson.loads(done.stdout)
    assert result["imdc"]["risk_group"] == "intermediate", label
    platelets = next(f for f in result["imdc"]["factors"] if f["name"] == "platelets")
    assert platelets["status"] == "present"
    assert any(w["source"] == "Observation/plt-foreign" for w in result["warnings"])


def test_a_result_in_the_patients_own_encounter_is_used() -> None:
    own = {**FOREIGN_ENCOUNTER, "id": "enc-own", "subject": {"reference": f"Patient/{PATIENT_ID}"}}
    hb = _hb({"reference": f"Patient/{PATIENT_ID}"}, encounter={"reference": "Encounter/enc-own"})
    intake = read([patient(identifier=[MRN]), primary(), own, hb])
    assert intake.case.labs.hemoglobin is not None
    assert not warnings_about(intake, "this patient's data")
