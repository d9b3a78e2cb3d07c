"""The Case model: unknown is None, typos fail loudly, values are normalised."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from rccnav.core.case import Case, PrimaryTumour, PriorTherapy

from .conftest import make_case


def test_minimal_case_is_all_unknown() -> None:
    case = Case()
    assert case.performance is None
    assert case.labs.hemoglobin is None
    assert case.diagnosis.date is None
    assert case.primary_tumour.removed is None


def test_unknown_field_is_rejected() -> None:
    with pytest.raises(ValidationError, match="hemoglobn"):
        Case.model_validate({"labs": {"hemoglobn": {"value": 12, "unit": "g/dL"}}})


@pytest.mark.parametrize("kps", [75, 110, -10])
def test_kps_must_be_a_karnofsky_step(kps: int) -> None:
    with pytest.raises(ValidationError):
        make_case(performance={"kps": kps})


def test_ecog_range() -> None:
    with pytest.raises(ValidationError):
        make_case(performance={"kps": None, "ecog": 6})


def test_reference_range_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="above high"):
        make_case(labs={"hemoglobin": {"value": 12, "unit": "g/dL", "low": 15, "high": 12}})


def test_primary_in_place_contradicts_a_nephrectomy_date() -> None:
    with pytest.raises(ValidationError, match="nephrectomy_date"):
        PrimaryTumour(in_place=True, nephrectomy_date="2024-01-01")  # type: ignore[arg-type]


def test_prior_therapy_dates_and_agent_names() -> None:
    therapy = PriorTherapy(agents=(" Nivolumab ", "Interferon Alfa"))
    assert therapy.agents == ("nivolumab", "interferon-alfa")
    with pytest.raises(ValidationError, match="before start"):
        PriorTherapy(agents=("sunitinib",), start="2025-02-01", end="2025-01-01")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        PriorTherapy(agents=())


def test_metastatic_prior_therapies_exclude_adjuvant() -> None:
    case = make_case(
        prior_therapies=[
            {"agents": ["pembrolizumab"], "setting": "adjuvant"},
            {"agents": ["sunitinib"]},
        ]
    )
    assert [t.agents for t in case.metastatic_prior_therapies] == [("sunitinib",)]


def test_case_is_immutable() -> None:
    case = make_case()
    with pytest.raises(ValidationError):
        case.sex = None  # type: ignore[misc]


# --- safety facts (issue 8): detail lists, derived flags, consistency ----------------------------


def test_safety_facts_default_to_unknown() -> None:
    c = Case().comorbidities
    assert c.immune_related_adverse_events is None
    assert c.transplanted_organs is None
    assert c.heart_liver_or_lung_transplant is None
    assert c.steroids_over_10mg is None
    assert c.active_chronic_infection is None
    assert Case().vitals.oxygen_saturation is None
    assert Case().disease.hypercalcaemia is None


@pytest.mark.parametrize(
    ("organs", "thoracic_or_liver", "kidney_or_other"),
    [
        (["heart"], True, False),
        (["liver"], True, False),
        (["lung"], True, False),
        (["kidney"], False, True),
        (["kidney", "pancreas"], False, True),
        ([], False, False),
    ],
)
def test_transplant_by_organ(
    organs: list[str], thoracic_or_liver: bool, kidney_or_other: bool
) -> None:
    c = make_case(comorbidities={"transplanted_organs": organs}).comorbidities
    assert c.heart_liver_or_lung_transplant is thoracic_or_liver
    assert c.kidney_or_other_transplant is kidney_or_other


def test_transplant_of_unknown_organ_is_unknown_not_kidney() -> None:
    c = make_case(comorbidities={"organ_transplant": True}).comorbidities
    assert c.heart_liver_or_lung_transplant is None
    assert c.kidney_or_other_transplant is None


@pytest.mark.parametrize(
    "comorbidities",
    [
        {"organ_transplant": False, "transplanted_organs": ["kidney"]},
        {"organ_transplant": True, "transplanted_organs": []},
        {
            "prior_severe_immune_related_adverse_event": False,
            "immune_related_adverse_events": [{"organ": "colitis", "grade": 4}],
        },
        {"systemic_steroids_over_10mg": False, "corticosteroid_prednisone_mg_per_day": 20},
        {
            "active_autoimmune_disease": False,
            "autoimmune_diseases": [{"disease": "myasthenia-gravis", "active": True}],
        },
    ],
)
def test_summary_flags_and_details_must_agree(comorbidities: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        make_case(comorbidities=comorbidities)


@pytest.mark.parametrize(("dose", "over"), [(0, False), (10, False), (10.5, True), (60, True)])
def test_steroid_dose_threshold_is_above_10mg(dose: float, over: bool) -> None:
    # Checkpoint-inhibitor trials excluded > 10 mg/day prednisone equivalent.
    c = make_case(comorbidities={"corticosteroid_prednisone_mg_per_day": dose}).comorbidities
    assert c.steroids_over_10mg is over


def test_one_active_infection_is_enough_but_absence_needs_all_four() -> None:
    known = {"tuberculosis": "none", "hepatitis_b": "past", "hepatitis_c": "none"}
    partial = make_case(comorbidities={"infections": known}).comorbidities
    assert partial.active_chronic_infection is None
    full = make_case(comorbidities={"infections": {**known, "hiv": "controlled"}}).comorbidities
    assert full.active_chronic_infection is False
    active = make_case(comorbidities={"infections": {"hepatitis_b": "active"}}).comorbidities
    assert active.active_chronic_infection is True


def test_irae_agents_are_normalised_and_grade_bounded() -> None:
    event = {"agents": ["Pembrolizumab"], "organ": "myocarditis", "grade": 4}
    c = make_case(comorbidities={"immune_related_adverse_events": [event]}).comorbidities
    assert c.immune_related_adverse_events is not None
    assert c.immune_related_adverse_events[0].agents == ("pembrolizumab",)
    with pytest.raises(ValidationError):
        make_case(comorbidities={"immune_related_adverse_events": [{**event, "grade": 6}]})


_HB = {"value": 9.0, "unit": "g/dL", "low": 13.5, "high": 17.5, "date": "2026-10-30"}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"labs": {"hemoglobin": {**_HB, "low": "BAD"}}}, ("labs", "hemoglobin", "low")),
        (
            {"labs": {"platelets": {**_HB, "unit": "10*9/L", "high": "BAD"}}},
            ("labs", "platelets", "high"),
        ),
        ({"labs": {"hemoglobin": {**_HB, "value": "BAD"}}}, ("labs", "hemoglobin", "value")),
        (
            {"comorbidities": {"corticosteroid_prednisone_mg_per_day": "BAD"}},
            ("comorbidities", "corticosteroid_prednisone_mg_per_day"),
        ),
    ],
)
def test_non_finite_numbers_are_refused_naming_the_field(
    bad: float, data: dict[str, object], where: tuple[str, ...]
) -> None:
    """A NaN or infinite lab limit made the factor read as "absent" through the Python API
    (the case-file reader refused it already): unknown must never read as normal."""

    def fill(value: object) -> object:
        if value == "BAD":
            return bad
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    with pytest.raises(ValidationError) as raised:
        Case.model_validate({"diagnosis": {"date": "2026-05-01"}, **fill(data)})  # type: ignore[dict-item]
    (error,) = raised.value.errors()
    assert error["loc"] == where
    assert "finite" in error["msg"]
