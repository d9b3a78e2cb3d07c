"""Never guess: every dropped or repaired item is warned; impossible dates are refused.

Defect class (issue 7 item 4): the reader silently choosing for the clinician — an
invalid date replaced by another without a word, one of two different copies of a
resource picked, an assessment dated before the cancer was diagnosed.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rccnav.adapters.casefile import read_case_file
from rccnav.adapters.cli import main
from rccnav.adapters.errors import InputError
from rccnav.adapters.intake import assess_input, read_input
from rccnav.core.assess import assess
from rccnav.knowledge.loader import default_knowledge_base

from .builders import ON, bundle, lab, patient, primary, read, score, warnings_about


@pytest.mark.parametrize("bad", ["2025-13-45", "2025-02-30", "yesterday", "YYYY-MM-DD", 20250101])
def test_invalid_onset_date_is_warned_and_the_fallback_said(bad: Any) -> None:
    kidney = primary(onset=None, id="rcc-1", onsetDateTime=bad, recordedDate="2024-05-02")
    intake = read([patient(), kidney])
    warned = [
        w for w in intake.warnings if w.source == "Condition/rcc-1" and "onsetDateTime" in w.message
    ]
    assert warned and "not a valid date" in warned[0].message
    assert intake.case.diagnosis.date == date(2024, 5, 2)


@pytest.mark.parametrize("bad", ["2026-10-32", "not a date"])
def test_invalid_result_date_is_warned(bad: str) -> None:
    hb = lab("718-7", 12.0, "g/dL", when=None, id="hb-bad", effectiveDateTime=bad)
    intake = read([patient(), primary(), hb])
    assert intake.case.labs.hemoglobin is None
    assert any(
        w.source == "Observation/hb-bad" and "effectiveDateTime" in w.message
        for w in intake.warnings
    )


def test_a_date_before_birth_is_warned() -> None:
    kidney = primary(onset="1950-01-01", id="rcc-2", recordedDate="2024-05-02")
    intake = read([patient(birth="1960-01-01"), kidney])
    assert any(
        w.source == "Condition/rcc-2" and "before the birth date" in w.message
        for w in intake.warnings
    )
    assert intake.case.diagnosis.date == date(2024, 5, 2)


def test_identical_copies_are_read_once_with_a_note() -> None:
    hb = lab("718-7", 13.0, "g/dL", id="hb-twice")
    intake = read(bundle(patient(), primary(), hb, dict(hb), kind="searchset"))
    assert intake.case.labs.hemoglobin is not None
    assert any(w.source == "Observation/hb-twice" and w.severity == "info" for w in intake.warnings)


@pytest.mark.parametrize(
    "change", [{"valueQuantity": {"value": 9.1, "unit": "g/dL"}}, {"status": "amended"}]
)
def test_different_copies_of_one_resource_are_not_used(change: dict[str, Any]) -> None:
    hb = lab("718-7", 13.0, "g/dL", id="hb-two-versions")
    other = {**hb, **change}
    intake = read(bundle(patient(), primary(), hb, other))
    assert intake.case.labs.hemoglobin is None
    warned = [w for w in intake.warnings if w.source == "Observation/hb-two-versions"]
    assert warned and warned[0].severity == "warning" and "neither is used" in warned[0].message


def test_different_copies_of_the_patient_are_refused() -> None:
    with pytest.raises(InputError, match="two different copies of the Patient"):
        read(bundle(patient(), patient(gender="female"), primary()))


@pytest.mark.parametrize("onset", ["2026-11-02", "2027-01-15"])
def test_fhir_assessment_before_the_diagnosis_is_refused(onset: str) -> None:
    with pytest.raises(InputError, match="before the RCC diagnosis"):
        read([patient(), primary(onset=onset)])


CASE = b"case_id: before-dx\ndiagnosis: {date: 2026-06-01, histology: clear-cell}\n"


@pytest.mark.parametrize("on", [date(2026, 5, 31), date(2020, 1, 1)])
def test_case_file_assessment_before_the_diagnosis_is_refused(on: date) -> None:
    kb = default_knowledge_base()
    intake = read_input(CASE, name="case.yaml", on=on, kb=kb, today=ON)
    with pytest.raises(InputError, match="before the RCC diagnosis"):
        assess_input(intake, kb, on)


def test_cli_exit_2_when_on_is_before_the_diagnosis(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(CASE)
    assert main(["assess", str(path), "--on", "2026-05-01"]) == 2
    assert "before the RCC diagnosis" in capsys.readouterr().err
    assert main(["assess", str(path), "--on", "2026-06-01"]) == 0


# -- same-day results that disagree --------------------------------------------------

KPS, ECOG = "89243-0", "89247-1"


def _hb(value: float, rid: str, when: str = "2026-10-25", unit: str = "g/dL") -> dict[str, Any]:
    low, high = (13.5, 17.5) if unit == "g/dL" else (135.0, 175.0)
    return lab("718-7", value, unit, when=when, low=low, high=high, id=rid)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (_hb(14.2, "hb-a"), _hb(12.1, "hb-b")),  # the example: normal vs low
        (_hb(12.1, "hb-a", "2026-10-25T08:00:00Z"), _hb(14.2, "hb-b", "2026-10-25T16:00:00Z")),
        (_hb(14.2, "hb-a"), _hb(121.0, "hb-b", unit="g/L")),
    ],
)
def test_same_day_results_that_change_a_factor_are_unknown(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    intake = read([patient(), primary(), first, second])
    assert intake.case.labs.hemoglobin is None
    (warned,) = warnings_about(intake, "same-day results disagree")
    assert "Observation/hb-a" in warned and "Observation/hb-b" in warned
    assert "treated as unknown" in warned


@pytest.mark.parametrize(
    ("loinc", "values", "unit", "low", "high"),
    [
        ("718-7", (14.2, 14.9), "g/dL", 13.5, 17.5),  # both normal
        ("777-3", (510.0, 620.0), "10*3/uL", 150.0, 400.0),  # both above the ULN
    ],
)
def test_same_day_results_that_agree_on_the_factor_are_used(
    loinc: str, values: tuple[float, float], unit: str, low: float, high: float
) -> None:
    results = [lab(loinc, v, unit, low=low, high=high, id=f"r{i}") for i, v in enumerate(values)]
    intake = read([patient(), primary(), *results])
    field = "hemoglobin" if loinc == "718-7" else "platelets"
    assert getattr(intake.case.labs, field) is not None
    (warned,) = warnings_about(intake, "same-day results disagree")
    assert "same risk factor status" in warned


def test_same_day_platelets_either_side_of_the_uln_are_unknown() -> None:
    results = [
        lab("777-3", v, "10*3/uL", low=150.0, high=400.0, id=f"plt-{i}")
        for i, v in enumerate((450.0, 300.0))
    ]
    intake = read([patient(), primary(), *results])
    assert intake.case.labs.platelets is None


@pytest.mark.parametrize(
    ("scores", "known"),
    [
        (((KPS, 90), (ECOG, 2)), False),  # the example
        (((KPS, 90), (KPS, 70)), False),
        (((ECOG, 0), (ECOG, 2)), False),
        (((KPS, 90), (ECOG, 0)), True),  # compatible: ECOG 0 is KPS 90-100
        (((KPS, 60), (ECOG, 2)), True),  # compatible: ECOG 2 is KPS 50-60
        (((KPS, 70), (ECOG, 3)), True),  # incompatible, but KPS < 80 either way
    ],
)
def test_same_day_performance_status(scores: tuple[tuple[str, int], ...], known: bool) -> None:
    results = [score(code, value, id=f"ps-{i}") for i, (code, value) in enumerate(scores)]
    intake = read([patient(), primary(), *results])
    assert (intake.case.performance is not None) is known


def test_results_on_different_days_are_not_a_conflict() -> None:
    intake = read(
        [patient(), primary(), _hb(12.1, "hb-old", "2026-10-20"), _hb(14.2, "hb-new", "2026-10-25")]
    )
    assert intake.case.labs.hemoglobin is not None
    assert intake.case.labs.hemoglobin.source == "Observation/hb-new"
    assert not warnings_about(intake, "same-day")


# -- partial dates ---------------------------------------------------------------------


def _time_factor(case: Any, on: date = ON) -> str:
    result = assess(case, default_knowledge_base(), on)
    (factor,) = [f for f in result.imdc.factors if f.name == "time_to_treatment"]
    return str(factor.status)


@pytest.mark.parametrize(
    ("onset", "status"),
    [
        ("2025-11", "unknown"),  # 1 Nov 2025 is exactly a year before; 30 Nov is not
        ("2025", "unknown"),  # a year's worth of days either side of the anniversary
        ("2025-10", "absent"),  # every possible day is more than a year before
        ("2025-12", "present"),  # every possible day is less than a year before
        ("2024", "absent"),
        ("2026-03", "present"),
        ("2025-11-01", "absent"),  # a full date decides (on the anniversary: not < 1 year)
        ("2025-11-02", "present"),
    ],
)
def test_partial_diagnosis_date_is_an_interval(onset: str, status: str) -> None:
    intake = read([patient(), primary(onset=onset)])
    assert _time_factor(intake.case) == status


def test_partial_date_interval_is_cut_at_the_assessment_date() -> None:
    intake = read([patient(), primary(onset="2026-10")], on=date(2026, 10, 15))
    assert intake.case.diagnosis.date_latest == date(2026, 10, 15)


@pytest.mark.parametrize(
    ("latest", "status"),
    [("2025-11-30", "unknown"), ("2025-10-31", "absent"), (None, "absent")],
)
def test_case_file_date_interval(latest: str | None, status: str) -> None:
    text = "case_id: partial\ndiagnosis:\n  date: 2025-10-01\n"
    if latest:
        text += f"  date_latest: {latest}\n"
    case = read_case_file(text.encode(), name="case.yaml", today=ON)
    assert _time_factor(case) == status


@pytest.mark.parametrize(
    "diagnosis", ["{date_latest: 2025-11-30}", "{date: 2025-11-30, date_latest: 2025-11-01}"]
)
def test_case_file_interval_must_be_ordered(diagnosis: str) -> None:
    with pytest.raises(InputError, match="date_latest"):
        read_case_file(f"case_id: x\ndiagnosis: {diagnosis}\n".encode(), name="c.yaml", today=ON)


# -- censored values ---------------------------------------------------------------------


def _factor(case: Any, model: str, name: str) -> str:
    result = assess(case, default_knowledge_base(), ON)
    (factor,) = [f for f in getattr(result, model).factors if f.name == name]
    return str(factor.status)


def _censored_lab(
    loinc: str, text: str, unit: str, low: float, high: float, as_quantity: bool
) -> dict[str, Any]:
    if not as_quantity:
        resource = lab(loinc, None, low=low, high=high, valueString=text, id="censored-1")
        for ref in resource["referenceRange"]:
            for bound in ("low", "high"):
                if bound in ref:
                    ref[bound].update(
                        {"unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
                    )
        return resource
    comparator = text.rstrip("0123456789.")
    resource = lab(loinc, float(text[len(comparator) :]), unit, low=low, high=high, id="censored-1")
    resource["valueQuantity"]["comparator"] = comparator
    return resource


CENSORED = [
    # (loinc, text, unit, low, high, model, factor, expected status)
    ("751-8", ">20.0", "10*3/uL", 1.8, 7.5, "imdc", "neutrophils", "present"),
    ("751-8", "<1.0", "10*3/uL", 1.8, 7.5, "imdc", "neutrophils", "absent"),
    ("751-8", ">5.0", "10*3/uL", 1.8, 7.5, "imdc", "neutrophils", "unknown"),
    ("718-7", "<8.0", "g/dL", 13.5, 17.5, "imdc", "hemoglobin", "present"),
    ("718-7", ">12", "g/dL", 13.5, 17.5, "imdc", "hemoglobin", "unknown"),
    ("777-3", ">400", "10*3/uL", 150.0, 400.0, "imdc", "platelets", "present"),
    ("777-3", ">=400", "10*3/uL", 150.0, 400.0, "imdc", "platelets", "unknown"),
    ("2532-0", ">1000", "U/L", 125.0, 250.0, "mskcc", "ldh", "present"),
]


@pytest.mark.parametrize("as_quantity", [True, False], ids=["comparator", "text"])
@pytest.mark.parametrize(
    ("loinc", "text", "unit", "low", "high", "model", "name", "status"),
    CENSORED,
    ids=[f"{c[6]} {c[1]}" for c in CENSORED],
)
def test_censored_value_is_used_only_where_decisive(
    loinc: str,
    text: str,
    unit: str,
    low: float,
    high: float,
    model: str,
    name: str,
    status: str,
    as_quantity: bool,
) -> None:
    observation = _censored_lab(loinc, text, unit, low, high, as_quantity)
    intake = read([patient(), primary(), observation])
    assert _factor(intake.case, model, name) == status
    (warned,) = [w for w in intake.warnings if "censored" in w.message]
    assert warned.source == "Observation/censored-1"
    assert warned.severity == ("warning" if status == "unknown" else "info")


# -- panels --------------------------------------------------------------------------------


def _component(loinc: str, value: float, unit: str, low: float, high: float) -> dict[str, Any]:
    quantity = {"system": "http://unitsofmeasure.org", "code": unit, "unit": unit}
    return {
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "valueQuantity": {"value": value, **quantity},
        "referenceRange": [
            {"low": {"value": low, **quantity}, "high": {"value": high, **quantity}}
        ],
    }


def _cbc(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "cbc-1",
        "status": "final",
        "code": {
            "coding": [{"system": "http://loinc.org", "code": "58410-2"}],
            "text": "CBC panel",
        },
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-10-25",
        "component": [
            _component("718-7", 11.9, "g/dL", 13.5, 17.5),
            _component("751-8", 8.4, "10*3/uL", 1.8, 7.5),
            _component("777-3", 455.0, "10*3/uL", 150.0, 400.0),
            _component("789-8", 4.1, "10*6/uL", 4.3, 5.9),  # red cells: not used by rccnav
        ],
        **extra,
    }


def test_cbc_panel_is_read_by_component() -> None:
    intake = read([patient(), primary(), _cbc()])
    labs = intake.case.labs
    assert labs.hemoglobin is not None and labs.hemoglobin.value == 11.9
    assert (
        labs.hemoglobin.high == 17.5 and labs.hemoglobin.source == "Observation/cbc-1 component 1"
    )
    assert labs.neutrophils is not None and labs.neutrophils.value == 8.4
    assert labs.platelets is not None and labs.platelets.source == "Observation/cbc-1 component 3"
    assert intake.summary.used["Observation"] == 1
    assert any(
        w.source == "Observation/cbc-1" and "by component" in w.message for w in intake.warnings
    )


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_a_withdrawn_panel_gives_no_components(status: str) -> None:
    intake = read([patient(), primary(), _cbc(status=status)])
    assert intake.case.labs.hemoglobin is None and intake.case.labs.platelets is None


def test_a_panel_component_competes_with_a_same_day_result() -> None:
    separate = lab("718-7", 14.6, "g/dL", low=13.5, high=17.5, id="hb-separate")
    intake = read([patient(), primary(), _cbc(), separate])
    assert intake.case.labs.hemoglobin is None  # 11.9 (low) and 14.6 (normal) the same day
    assert warnings_about(intake, "same-day results disagree")


# -- total calcium without albumin -----------------------------------------------------
# Payne: corrected = total + 0.8 x (4.0 - albumin g/dL). With albumin anywhere in the
# plausible range 0.5-7.0 g/dL (knowledge base), the correction spans -2.4 to +2.8 mg/dL.


@pytest.mark.parametrize(
    ("total", "unit", "status"),
    [
        (14.0, "mg/dL", "present"),  # 14.0 - 2.4 = 11.6 > ULN 10.2 whatever the albumin
        (3.5, "mmol/L", "present"),  # 14.03 mg/dL
        (12.0, "mg/dL", "unknown"),  # 9.6 to 14.8: either side of the ULN
        (9.4, "mg/dL", "unknown"),  # 7.0 to 12.2
        (7.0, "mg/dL", "absent"),  # at most 9.8 <= 10.2 whatever the albumin
    ],
)
def test_total_calcium_without_albumin_is_used_where_albumin_cannot_matter(
    total: float, unit: str, status: str
) -> None:
    low, high = (8.6, 10.2) if unit == "mg/dL" else (2.15, 2.545)
    calcium = lab("17861-6", total, unit, low=low, high=high, id="ca-1")
    intake = read([patient(), primary(), calcium])
    assert _factor(intake.case, "imdc", "calcium") == status
    if status != "unknown":
        result = assess(intake.case, default_knowledge_base(), ON)
        (factor,) = [f for f in result.imdc.factors if f.name == "calcium"]
        assert "albumin not recorded" in factor.evidence


def test_recorded_albumin_is_always_used_for_the_correction() -> None:
    calcium = lab("17861-6", 14.0, "mg/dL", low=8.6, high=10.2)
    albumin = lab("1751-7", 4.0, "g/dL", low=3.5, high=5.0)
    case = read([patient(), primary(), calcium, albumin]).case
    result = assess(case, default_knowledge_base(), ON)
    (factor,) = [f for f in result.imdc.factors if f.name == "calcium"]
    assert factor.status == "present" and "albumin not recorded" not in factor.evidence
    assert factor.value == 14.0
