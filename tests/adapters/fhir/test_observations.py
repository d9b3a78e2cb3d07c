"""Observations: labs, units, reference ranges, status, dates, performance status, germline."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from rccnav.core.case import Gene, ResultStatus

from .builders import (
    LOINC,
    SNOMED,
    UCUM,
    base,
    concept,
    lab,
    patient,
    primary,
    read,
    score,
    warnings_about,
)


@pytest.mark.parametrize(
    ("loinc", "field"),
    [
        ("718-7", "hemoglobin"),
        ("59260-0", "hemoglobin"),
        ("17861-6", "calcium_total"),
        ("2000-8", "calcium_total"),
        ("29265-6", "calcium_corrected"),
        ("46099-8", "calcium_corrected"),
        ("1994-3", "calcium_ionized"),
        ("1995-0", "calcium_ionized"),
        ("1751-7", "albumin"),
        ("751-8", "neutrophils"),
        ("26499-4", "neutrophils"),
        ("753-4", "neutrophils"),
        ("777-3", "platelets"),
        ("26515-7", "platelets"),
        ("2532-0", "ldh"),
        ("14804-9", "ldh"),
        ("62238-1", "egfr"),
        ("98979-8", "egfr"),
        ("2160-0", "creatinine"),
    ],
)
def test_loinc_codes_map_to_case_fields(loinc: str, field: str) -> None:
    observation = lab(loinc, 5.0, "mmol/L")
    measurement = getattr(read(base(observation)).case.labs, field)
    assert measurement.value == 5.0 and measurement.unit == "mmol/L"
    assert measurement.source == f"Observation/{observation['id']}"
    assert measurement.date == date(2026, 10, 25)


def test_reference_range_becomes_the_lab_limits() -> None:
    hb = read(base(lab("718-7", 12.1, "g/dL", low=13.5, high=17.5))).case.labs.hemoglobin
    assert hb is not None and (hb.low, hb.high) == (13.5, 17.5)


def test_reference_range_in_another_unit_is_converted() -> None:
    observation = lab("718-7", 12.1, "g/dL")
    observation["referenceRange"] = [{"low": {"value": 135, "system": UCUM, "code": "g/L"}}]
    hb = read(base(observation)).case.labs.hemoglobin
    assert hb is not None and hb.low == pytest.approx(13.5)


def _sexed_ranges() -> list[dict[str, Any]]:
    gender = "http://hl7.org/fhir/administrative-gender"
    return [
        {"low": {"value": 12.0, "unit": "g/dL"}, "appliesTo": [concept(gender, "female")]},
        {"low": {"value": 13.5, "unit": "g/dL"}, "appliesTo": [concept(SNOMED, "248153007")]},
    ]


@pytest.mark.parametrize(("gender", "low"), [("male", 13.5), ("female", 12.0)])
def test_range_for_the_patients_sex(gender: str, low: float) -> None:
    observation = lab("718-7", 12.8, "g/dL", referenceRange=_sexed_ranges())
    hb = read([patient(gender=gender), primary(), observation]).case.labs.hemoglobin
    assert hb is not None and hb.low == low


def test_sex_specific_ranges_with_unknown_sex_say_so() -> None:
    observation = lab("718-7", 12.8, "g/dL", referenceRange=_sexed_ranges())
    intake = read([patient(gender="unknown"), primary(), observation])
    assert intake.case.labs.hemoglobin is not None and intake.case.labs.hemoglobin.low is None
    assert warnings_about(intake, "sex or age is unknown")


def test_age_specific_range() -> None:
    ranges = [
        {
            "high": {"value": 400},
            "age": {"low": {"value": 18, "code": "a"}, "high": {"value": 60, "code": "a"}},
        },
        {"high": {"value": 450}, "age": {"low": {"value": 60, "code": "a"}}},
    ]
    observation = lab("777-3", 420, "10*9/L", referenceRange=ranges)
    platelets = read([patient(birth="1950-01-01"), primary(), observation]).case.labs.platelets
    assert platelets is not None and platelets.high == 450


def test_equally_applicable_different_ranges_are_not_guessed() -> None:
    ranges = [{"high": {"value": 400}}, {"high": {"value": 450}}]
    intake = read(base(lab("777-3", 420, "10*9/L", referenceRange=ranges)))
    assert intake.case.labs.platelets is not None and intake.case.labs.platelets.high is None
    assert warnings_about(intake, "apply equally")


def test_therapeutic_range_is_not_a_normal_range() -> None:
    ranges = [
        {
            "high": {"value": 1.0},
            "type": concept(
                "http://terminology.hl7.org/CodeSystem/referencerange-meaning", "treatment"
            ),
        }
    ]
    ldh = read(base(lab("2532-0", 300, "U/L", referenceRange=ranges))).case.labs.ldh
    assert ldh is not None and ldh.high is None


def test_printable_unit_is_normalised_to_ucum() -> None:
    observation = lab("751-8", 8.2, None)
    observation["valueQuantity"] = {"value": 8.2, "unit": "K/uL"}
    neutrophils = read(base(observation)).case.labs.neutrophils
    assert neutrophils is not None and neutrophils.unit == "10*3/uL"


def test_missing_unit_is_data_quality_and_not_used() -> None:
    observation = lab("718-7", 9.1, None)
    intake = read(base(observation))
    assert intake.case.labs.hemoglobin is None
    assert any(
        w.code == "data-quality" and w.source == f"Observation/{observation['id']}"
        for w in intake.warnings
    )


def test_value_string_number_takes_the_range_unit() -> None:
    observation = lab("718-7", None, low=13.5, high=17.5, valueString="12.3")
    observation["referenceRange"][0]["low"] = {
        "value": 13.5,
        "unit": "g/dL",
        "system": UCUM,
        "code": "g/dL",
    }
    observation["referenceRange"][0]["high"] = {
        "value": 17.5,
        "unit": "g/dL",
        "system": UCUM,
        "code": "g/dL",
    }
    intake = read(base(observation))
    assert intake.case.labs.hemoglobin is not None and intake.case.labs.hemoglobin.value == 12.3
    assert warnings_about(intake, "given as text")


@pytest.mark.parametrize("text", ["see comment", "positive", "12..3"])
def test_textual_values_are_not_used(text: str) -> None:
    intake = read(base(lab("2532-0", None, valueString=text)))
    assert intake.case.labs.ldh is None
    assert intake.warnings


def test_censored_values_are_read_by_the_never_guess_rule() -> None:
    """Censored results are used only where decisive (tests in test_never_guess.py)."""
    observation = lab("2532-0", 1000, "U/L", low=125, high=250)
    observation["valueQuantity"]["comparator"] = ">"
    intake = read(base(observation))
    assert intake.case.labs.ldh is not None and warnings_about(intake, "censored")


def test_preliminary_result_is_marked() -> None:
    hb = read(base(lab("718-7", 13.0, "g/dL", status="preliminary"))).case.labs.hemoglobin
    assert hb is not None and hb.status is ResultStatus.PRELIMINARY


@pytest.mark.parametrize("status", ["amended", "corrected"])
def test_amended_and_corrected_are_final(status: str) -> None:
    hb = read(base(lab("718-7", 13.0, "g/dL", status=status))).case.labs.hemoglobin
    assert hb is not None and hb.status is ResultStatus.FINAL


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_withdrawn_results_are_ignored_and_counted(status: str) -> None:
    intake = read(base(lab("718-7", 13.0, "g/dL", status=status)))
    assert intake.case.labs.hemoglobin is None
    assert intake.summary.unused["Observation"] == 1
    assert any(status in item for item in intake.ignored)


def test_most_recent_on_or_before_the_assessment_date() -> None:
    old = lab("718-7", 11.0, "g/dL", when="2026-09-01")
    current = lab("718-7", 12.0, "g/dL", when="2026-10-30T08:15:00+01:00")
    future = lab("718-7", 14.0, "g/dL", when="2026-11-20")
    intake = read(base(old, current, future))
    hb = intake.case.labs.hemoglobin
    assert hb is not None and hb.value == 12.0
    assert any(
        "after the assessment date" in item and future["id"] in item for item in intake.ignored
    )
    assert any("superseded" in item for item in intake.ignored)
    assert intake.summary.used["Observation"] == 1 and intake.summary.unused["Observation"] == 2


def test_a_newer_unusable_result_is_reported_and_the_older_one_used() -> None:
    usable = lab("718-7", 12.0, "g/dL", when="2026-10-01")
    no_unit = lab("718-7", 9.0, None, when="2026-10-28")
    intake = read(base(usable, no_unit))
    assert intake.case.labs.hemoglobin is not None and intake.case.labs.hemoglobin.value == 12.0
    assert warnings_about(intake, "no unit")


def test_old_value_reaches_the_core_which_warns_it_is_outside_the_window() -> None:
    intake = read(base(lab("718-7", 12.0, "g/dL", when="2025-01-01")))
    assert intake.case.labs.hemoglobin is not None  # the core applies the look-back window


def test_undated_result_is_not_used() -> None:
    intake = read(base(lab("718-7", 12.0, "g/dL", when=None)))
    assert intake.case.labs.hemoglobin is None and warnings_about(intake, "no date")


def test_issued_time_dates_a_result_without_effective_time() -> None:
    intake = read(base(lab("718-7", 12.0, "g/dL", when=None, issued="2026-10-20T10:00:00Z")))
    assert intake.case.labs.hemoglobin is not None
    assert intake.case.labs.hemoglobin.date == date(2026, 10, 20)


def test_locally_coded_result_that_looks_like_ours_is_reported() -> None:
    observation = lab("718-7", 12.0, "g/dL")
    observation["code"] = {
        "coding": [{"system": "urn:oid:1.2.3", "code": "HGB"}],
        "text": "Hemoglobin",
    }
    intake = read(base(observation))
    assert intake.case.labs.hemoglobin is None
    assert warnings_about(intake, "not LOINC-coded")


# ------------------------------------------------------------ performance


@pytest.mark.parametrize(
    "value",
    [
        {"valueInteger": 70},
        {"valueQuantity": {"value": 70, "unit": "%"}},
        {"valueCodeableConcept": concept(LOINC, "LA29178-3")},
        {"valueString": "KPS 70%"},
    ],
)
def test_kps_shapes(value: dict[str, Any]) -> None:
    observation = score("89243-0", 0)
    del observation["valueInteger"]
    observation.update(value)
    performance = read(base(observation)).case.performance
    assert performance is not None and performance.kps == 70


@pytest.mark.parametrize(
    "value",
    [
        {"valueInteger": 1},
        {
            "valueCodeableConcept": concept(
                LOINC, "LA9623-5", "Restricted in physically strenuous activity"
            )
        },
        {"valueCodeableConcept": concept(SNOMED, "422512005")},
    ],
)
def test_ecog_shapes(value: dict[str, Any]) -> None:
    observation = score("89247-1", 0)
    del observation["valueInteger"]
    observation.update(value)
    performance = read(base(observation)).case.performance
    assert performance is not None and performance.ecog == 1 and performance.kps is None


def test_invalid_kps_is_data_quality() -> None:
    intake = read(base(score("89243-0", 75)))
    assert intake.case.performance is None and warnings_about(intake, "not a valid score")


def test_most_recent_performance_status_wins_and_kps_wins_ties() -> None:
    kps = score("89243-0", 80, when="2026-10-01")
    ecog = score("89247-1", 2, when="2026-10-20")
    performance = read(base(kps, ecog)).case.performance
    assert performance is not None and performance.ecog == 2 and performance.kps is None
    same_day = read(base(score("89243-0", 80), score("89247-1", 1))).case.performance
    assert same_day is not None and same_day.kps == 80


# -------------------------------------------------------------- genomics


def _variant(gene: str, origin: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"variant-{gene}-{origin}",
        "status": "final",
        "code": concept(LOINC, "69548-6"),
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2025-01-01",
        "valueCodeableConcept": concept(LOINC, "LA9633-4", "Present"),
        "component": [
            {
                "code": concept(LOINC, "48018-6"),
                "valueCodeableConcept": concept("http://www.genenames.org/geneId", "HGNC:0", gene),
            },
            {"code": concept(LOINC, "48002-0"), "valueCodeableConcept": concept(LOINC, origin)},
        ],
    }


def test_germline_vhl_variant() -> None:
    germline = read(base(_variant("VHL", "LA6683-2"))).case.germline
    assert germline.tested is True and germline.pathogenic_variants == (Gene.VHL,)


def test_somatic_vhl_variant_is_not_hereditary() -> None:
    germline = read(base(_variant("VHL", "LA6684-0"))).case.germline
    assert germline.pathogenic_variants == () and germline.tested is None


def test_metastatic_stage_dates_metastatic_disease() -> None:
    m1 = {
        "resourceType": "Observation",
        "id": "m1",
        "status": "final",
        "code": concept(LOINC, "21907-1"),
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-08-01",
        "valueCodeableConcept": concept("http://cancerstaging.org", "cM1", "M1"),
    }
    assert read(base(m1)).case.diagnosis.metastasis_date == date(2026, 8, 1)


def test_result_dated_by_its_diagnostic_report() -> None:
    hb = lab("718-7", 12.0, "g/dL", when=None)
    report = {
        "resourceType": "DiagnosticReport",
        "id": "cbc",
        "status": "final",
        "code": concept(LOINC, "58410-2"),
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-10-21T07:30:00Z",
        "result": [{"reference": f"Observation/{hb['id']}"}],
    }
    intake = read(base(hb, report))
    assert intake.case.labs.hemoglobin is not None
    assert intake.case.labs.hemoglobin.date == date(2026, 10, 21)
    assert intake.summary.used["DiagnosticReport"] == 1


# -- FHIR obs-6: a data-absent reason and a value contradict each other -----------------


def test_a_value_with_a_data_absent_reason_is_not_used() -> None:
    absent = {"coding": [{"code": "error"}], "text": "Error"}
    intake = read(base(lab("777-3", 500, "10*9/L", high=400, dataAbsentReason=absent, id="p")))
    assert intake.case.labs.platelets is None
    assert [w for w in intake.warnings if w.source == "Observation/p" and "absent" in w.message]


def test_a_score_with_a_data_absent_reason_is_not_used() -> None:
    absent = {"coding": [{"code": "asked-declined"}]}
    intake = read(base(score("89243-0", 90, dataAbsentReason=absent, id="k")))
    assert intake.case.performance is None
    assert [w for w in intake.warnings if w.source == "Observation/k"]
