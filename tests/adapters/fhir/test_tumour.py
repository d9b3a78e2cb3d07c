"""The tumour check: RCC only, other cancers flagged, unclassified RCC as its own subtype.

Defect class (issue 7 item 3): the tumour's identity taken from the site alone. A
kidney-site Condition whose morphology is not renal cell carcinoma must be refused;
another primary cancer must be a critical warning (it changes what "metastases" are);
"RCC, unclassified" must follow the non-clear-cell pathway, not clear-cell lists.
Codes from ICD-O-3 and ICD-10-CM (sources in knowledge/data/terminology.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from rccnav.adapters.cli import main
from rccnav.adapters.errors import InputError
from rccnav.core.assess import assess
from rccnav.core.case import Histology
from rccnav.knowledge.loader import default_knowledge_base

from .builders import (
    HISTOLOGY_EXT,
    ICD10CM,
    ICDO3,
    ON,
    concept,
    condition,
    patient,
    primary,
    read,
)

CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def morphology(code: str | None, display: str | None = None, text: str | None = None) -> Any:
    value: dict[str, Any] = {}
    if code:
        coding: dict[str, Any] = {"system": ICDO3, "code": code}
        if display:
            coding["display"] = display
        value["coding"] = [coding]
    if text:
        value["text"] = text
    return [{"url": HISTOLOGY_EXT, "valueCodeableConcept": value}]


@pytest.mark.parametrize(
    ("code", "text"),
    [
        ("8120/3", None),  # urothelial (transitional cell) carcinoma
        ("8130/3", None),  # papillary transitional cell carcinoma
        ("8960/3", None),  # Wilms tumour
        ("9590/3", None),  # lymphoma
        ("8890/3", None),  # leiomyosarcoma
        (None, "Urothelial carcinoma, high grade"),
        ("9999/3", "Primary renal leiomyosarcoma"),
    ],
)
def test_kidney_cancer_that_is_not_rcc_is_refused(code: str | None, text: str | None) -> None:
    kidney = primary(morphology=None, id="kidney-1", extension=morphology(code, text=text))
    with pytest.raises(InputError, match="not renal cell carcinoma") as caught:
        read([patient(), kidney])
    assert caught.value.where == "Condition/kidney-1"


@pytest.mark.parametrize(
    ("code", "text"),
    [("8318/3", None), ("8312/3", "Renal cell carcinoma with sarcomatoid features")],
)
def test_sarcomatoid_rcc_is_not_taken_for_a_sarcoma(code: str, text: str | None) -> None:
    kidney = primary(morphology=None, extension=morphology(code, text=text))
    intake = read([patient(), kidney])
    assert intake.case.diagnosis.sarcomatoid is True


def test_cli_exit_status_2_for_urothelial_kidney_cancer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kidney = primary(morphology="8120/3", id="kidney-2")
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient(), kidney)],
    }
    path = tmp_path / "urothelial.json"
    path.write_bytes(orjson.dumps(bundle))
    assert main(["assess", str(path), "--on", ON.isoformat()]) == 2
    assert "not renal cell carcinoma" in capsys.readouterr().err


def test_a_second_kidney_tumour_that_is_not_rcc_is_critical() -> None:
    urothelial = primary(morphology="8120/3", id="kidney-uc")
    intake = read([patient(), primary(), urothelial])
    critical = [w for w in intake.warnings if w.code == "second-primary-cancer"]
    assert critical and critical[0].severity == "critical"
    assert critical[0].source == "Condition/kidney-uc"


@pytest.mark.parametrize(
    ("system", "code", "text"),
    [
        (ICD10CM, "C34.11", None),  # lung
        (ICD10CM, "C50.911", None),  # breast
        (ICD10CM, "C61", None),  # prostate
        (ICD10CM, "C43.9", None),  # melanoma
        (ICD10CM, "C83.30", None),  # diffuse large B-cell lymphoma
        (ICD10CM, "C67.9", None),  # bladder
        ("http://example.org/local-codes", "LUNGCA", "Adenocarcinoma of the lung"),
    ],
)
def test_another_primary_cancer_is_a_critical_warning(
    system: str, code: str, text: str | None
) -> None:
    other = condition(system, code, id="other-1")
    if text:
        other["code"]["text"] = text
    intake = read([patient(), primary(), other])
    warned = [w for w in intake.warnings if w.code == "second-primary-cancer"]
    assert warned and warned[0].severity == "critical"
    assert warned[0].source == "Condition/other-1"
    assert "lung" in warned[0].message  # says what the lesions may be


@pytest.mark.parametrize(
    "code",
    ["C78.01", "C79.51", "C64.2", "C44.91", "D09.0", "C80.1"],
    ids=["secondary lung", "secondary bone", "kidney", "skin (non-melanoma)", "in situ", "NOS"],
)
def test_metastases_and_skin_cancers_are_not_another_primary(code: str) -> None:
    intake = read([patient(), primary(), condition(ICD10CM, code)])
    assert not [w for w in intake.warnings if w.code == "second-primary-cancer"]


def test_a_resolved_earlier_cancer_is_a_warning_not_critical() -> None:
    old = condition(
        ICD10CM, "C61", onset="2010-01-01", clinicalStatus=concept(CLINICAL, "resolved")
    )
    intake = read([patient(), primary(), old])
    (warned,) = [w for w in intake.warnings if w.code == "second-primary-cancer"]
    assert warned.severity == "warning"
    assert "history" in warned.message


@pytest.mark.parametrize(
    "extension",
    [
        morphology("8312/3", display="Renal cell carcinoma, unclassified"),
        morphology("8312/3", text="RCC, unclassified"),
        morphology(None, text="Unclassified renal cell carcinoma"),
    ],
)
def test_unclassified_rcc_is_its_own_histology(extension: Any) -> None:
    intake = read([patient(), primary(morphology=None, extension=extension)])
    assert intake.case.diagnosis.histology is Histology.UNCLASSIFIED


def test_unclassified_rcc_follows_the_non_clear_cell_pathway() -> None:
    kb = default_knowledge_base()
    extension = morphology("8312/3", display="Renal cell carcinoma, unclassified")
    case = read([patient(), primary(morphology=None, extension=extension)]).case
    read_as = assess(case, kb, ON).systemic_therapy
    unclassified = assess(
        case.model_copy(
            update={
                "diagnosis": case.diagnosis.model_copy(update={"histology": Histology.UNCLASSIFIED})
            }
        ),
        kb,
        ON,
    ).systemic_therapy
    clear_cell = assess(
        case.model_copy(
            update={
                "diagnosis": case.diagnosis.model_copy(update={"histology": Histology.CLEAR_CELL})
            }
        ),
        kb,
        ON,
    ).systemic_therapy
    assert read_as.preferred == unclassified.preferred
    assert read_as.preferred != clear_cell.preferred


def test_rcc_nos_without_a_qualifier_stays_unknown() -> None:
    extension = morphology("8312/3", display="Renal cell carcinoma, NOS")
    intake = read([patient(), primary(morphology=None, extension=extension)])
    assert intake.case.diagnosis.histology is None
