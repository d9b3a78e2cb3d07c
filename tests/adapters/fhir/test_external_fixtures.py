"""Every JSON file under ../shared/fixtures/external is read without a crash.

Each gives a Case or a clear InputError (no patient, no RCC diagnosis, not FHIR).
The FHIR ones are also read again with a patient and an RCC primary added, so the
mapping itself runs over the official, mCODE and Synthea resource shapes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from rccnav.adapters.errors import InputError

from .builders import primary, read

EXTERNAL = Path(__file__).resolve().parents[3].parent / "shared" / "fixtures" / "external"
FILES = sorted(EXTERNAL.rglob("*.json")) if EXTERNAL.is_dir() else []
CLEAR = re.compile(
    r"no Patient|Patient resources|no renal cell carcinoma|no resourceType|CDS Hooks|not JSON"
)

pytestmark = pytest.mark.skipif(not FILES, reason="../shared/fixtures/external is not present")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXTERNAL)))
def test_fixture_gives_a_case_or_a_clear_error(path: Path) -> None:
    try:
        intake = read(path.read_bytes())
    except InputError as error:
        assert CLEAR.search(str(error)), str(error)
        return
    assert intake.case.diagnosis.source


def _resources(document: Any) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        return []
    if document["resourceType"] != "Bundle":
        return [document]
    return [e["resource"] for e in document.get("entry", []) if isinstance(e.get("resource"), dict)]


def _subject_id(resources: list[dict[str, Any]]) -> str:
    for resource in resources:
        reference = (resource.get("subject") or resource.get("patient") or {}).get("reference", "")
        if isinstance(reference, str) and reference.startswith("Patient/"):
            return reference.split("/", 1)[1]
    return "augmented"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(EXTERNAL)))
def test_mapping_runs_over_real_resource_shapes(path: Path) -> None:
    resources = _resources(orjson.loads(path.read_bytes()))
    if not resources:
        pytest.skip("not FHIR")
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if len(patients) > 1:
        pytest.skip("several patients")
    document = orjson.loads(path.read_bytes())
    if document["resourceType"] != "Bundle":
        document = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": document}],
        }
    if not patients:
        patient = {"resourceType": "Patient", "id": _subject_id(resources), "gender": "female"}
        document["entry"].append({"resource": patient})
        patient_ref = f"Patient/{patient['id']}"
    else:
        full_url = next(
            (e.get("fullUrl") for e in document["entry"] if e.get("resource") is patients[0]), None
        )
        patient_ref = full_url or f"Patient/{patients[0]['id']}"
    rcc = primary(subject={"reference": patient_ref})
    document["entry"].append({"resource": rcc})
    try:
        intake = read(orjson.dumps(document))
    except InputError as error:
        # Fixtures whose resources name other patients, or Medications they do not include.
        assert re.search(r"not to the input's Patient|not in the input", str(error)), str(error)
        return
    assert intake.case.diagnosis.source == f"Condition/{rcc['id']}"
    summary = intake.summary
    assert sum(summary.used.values()) + sum(summary.unused.values()) >= len(resources)
