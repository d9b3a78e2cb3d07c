"""The form is the case file's schema: every item reachable, round trips, errors at fields."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from rccnav.adapters.intake import read_input
from rccnav.adapters.serialize import case_json_schema
from rccnav.adapters.web.form import (
    INDEX,
    UNIT_SUGGESTIONS,
    case_to_form,
    fields_by_path,
    form_to_case,
)
from rccnav.core.case import Case
from rccnav.core.units import UnitProblem, conversion_factor
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import VIGNETTES

TODAY = date(2026, 12, 1)


def _schema_leaves(schema: dict[str, Any], node: dict[str, Any], path: str) -> set[str]:
    """Every leaf path of the published case schema, list items as __i__."""
    defs = schema["$defs"]
    if "$ref" in node:
        return _schema_leaves(schema, defs[node["$ref"].rsplit("/", 1)[-1]], path)
    for variant in node.get("anyOf", ()):
        if variant.get("type") != "null":
            return _schema_leaves(schema, variant, path)
    if node.get("type") == "array":
        items = node["items"]
        target = defs[items["$ref"].rsplit("/", 1)[-1]] if "$ref" in items else items
        if "properties" in target:
            return _schema_leaves(schema, target, f"{path}.{INDEX}")
        return {path}
    if "properties" in node:
        leaves: set[str] = set()
        for name, child in node["properties"].items():
            leaves |= _schema_leaves(schema, child, f"{path}.{name}" if path else name)
        return leaves
    return {path}


def test_every_case_file_item_has_a_form_field() -> None:
    schema = case_json_schema()
    leaves = _schema_leaves(schema, schema, "")
    assert len(leaves) > 100  # the whole case file, not a part of it
    assert leaves == set(fields_by_path())


def test_unit_suggestions_are_offered_for_the_prognostic_labs_and_each_converts(
    kb: KnowledgeBase,
) -> None:
    measured = {p.split(".")[-2] for p in fields_by_path() if p.endswith(".unit")}
    assert set(UNIT_SUGGESTIONS) <= measured
    assert set(kb.analytes) <= set(UNIT_SUGGESTIONS)
    for lab, units in UNIT_SUGGESTIONS.items():
        analyte = kb.analytes.get(lab)
        for unit in units:
            if analyte is None:  # no canonical unit in the knowledge base: valid UCUM at least
                factor = conversion_factor(unit, unit, None)
            else:
                factor = conversion_factor(
                    unit, analyte.canonical_unit, analyte.molar_mass_g_per_mol
                )
            assert not isinstance(factor, UnitProblem), (lab, unit, factor)


def _vignettes() -> list[Path]:
    return sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))


@pytest.mark.skipif(not VIGNETTES.is_dir(), reason="../shared/vignettes is not present")
@pytest.mark.parametrize("path", _vignettes(), ids=lambda p: p.stem)
def test_form_round_trips_every_vignette_with_sources(path: Path) -> None:
    case = read_input(path.read_bytes(), name=path.name, on=TODAY).case
    values, sources = case_to_form(case)
    result = form_to_case(values, TODAY)
    assert result.problems == []
    assert result.case == case
    # Each filled value from a FHIR record names its resource.
    for key, source in sources.items():
        assert key in values
        assert "/" in source, (key, source)
    if case.labs.hemoglobin is not None and case.labs.hemoglobin.source:
        assert sources["labs.hemoglobin.value"] == case.labs.hemoglobin.source


def test_empty_form_is_the_all_unknown_case() -> None:
    result = form_to_case({}, TODAY)
    assert result.case == Case()


def test_groups_without_a_value_are_left_out_even_with_a_source() -> None:
    # A cleared value with its hidden source left behind is unknown, not an error.
    result = form_to_case({"labs.hemoglobin.source": "Observation/1"}, TODAY)
    assert result.case is not None
    assert result.case.labs.hemoglobin is None


def test_removed_rows_leave_no_gap_and_errors_name_the_row_shown() -> None:
    form = {
        "disease.metastases.0.site": "lung",
        "disease.metastases.3.site": "bone",
        "disease.metastases.3.lesions": "-2",
    }
    result = form_to_case(form, TODAY)
    assert result.case is None
    assert [(p.field, "greater than or equal to 0" in p.message) for p in result.problems] == [
        ("disease.metastases.3.lesions", True)
    ]
    form["disease.metastases.3.lesions"] = "2"
    case = form_to_case(form, TODAY).case
    assert case is not None
    assert [m.site.value for m in case.disease.metastases] == ["lung", "bone"]


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"performance.kps": "75"}, "performance.kps", "multiple of 10"),
        ({"performance.ecog": "7"}, "performance.ecog", "less than or equal to 5"),
        (
            {"labs.hemoglobin.value": "abc", "labs.hemoglobin.unit": "g/dL"},
            "labs.hemoglobin.value",
            "valid number",
        ),
        ({"labs.hemoglobin.value": "12"}, "labs.hemoglobin.unit", "required"),
        (
            {
                "labs.ldh.value": "200",
                "labs.ldh.unit": "U/L",
                "labs.ldh.low": "300",
                "labs.ldh.high": "200",
            },
            "labs.ldh",
            "above high",
        ),
        ({"diagnosis.date": "2027-05-01"}, "diagnosis.date", "after today"),
        ({"diagnosis.histology": "clear cell"}, "diagnosis.histology", "clear-cell"),
        ({"prior_therapies.0.start": "2025-01-01"}, "prior_therapies.0.agents", "required"),
        ({"nonsense.field": "1"}, "nonsense.field", "does not know"),
    ],
)
def test_invalid_entries_come_back_at_their_field(
    form: dict[str, str], field: str, words: str
) -> None:
    result = form_to_case(form, TODAY)
    assert result.case is None
    assert [p.field for p in result.problems] == [field]
    assert words in result.problems[0].message


def test_future_assessment_date_and_planned_start_are_allowed() -> None:
    result = form_to_case(
        {
            "assessment_date": "2027-01-10",
            "proposed_therapy.agents": "cabozantinib",
            "proposed_therapy.planned_start": "2027-01-20",
        },
        TODAY,
    )
    assert result.problems == []
    assert result.case is not None and result.case.proposed_therapy is not None
    assert result.case.proposed_therapy.agents == ("cabozantinib",)


def test_lists_and_choices_are_read_as_lists() -> None:
    result = form_to_case(
        {
            "prior_therapies.0.agents": "nivolumab, ipilimumab",
            "germline.pathogenic_variants": ["VHL", "FH"],
        },
        TODAY,
    )
    assert result.case is not None
    assert result.case.prior_therapies[0].agents == ("nivolumab", "ipilimumab")
    assert [g.value for g in result.case.germline.pathogenic_variants] == ["VHL", "FH"]
