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
