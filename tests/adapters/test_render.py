"""Text and Markdown renderings: complete, ordered for safety, 100 columns, no identifiers."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from rccnav.adapters.intake import assess_input, read_input
from rccnav.adapters.render.document import DISCLAIMER, factor_label
from rccnav.adapters.render.markdown import escape, render_markdown
from rccnav.adapters.render.text import render_text
from rccnav.adapters.render.wording import reference, regimen_name
from rccnav.core.assessment import Assessment, Warning
from rccnav.knowledge.loader import default_knowledge_base


@pytest.fixture(scope="module")
def assessments(kb: Any, example_paths: list[Path]) -> dict[str, Assessment]:
    results = {}
    for path in example_paths:
        intake = read_input(path.read_bytes(), name=path.name, kb=kb)
        results[path.stem] = assess_input(intake, kb, intake.case.assessment_date or date.today())
    return results


def _renderings(assessment: Assessment) -> list[str]:
    return [render_text(assessment), render_markdown(assessment)]


def test_text_fits_100_columns(assessments: dict[str, Assessment]) -> None:
    for name, assessment in assessments.items():
        for number, line in enumerate(render_text(assessment).splitlines(), 1):
            assert len(line) <= 100, f"{name} line {number} is {len(line)} wide: {line!r}"


def test_long_words_are_wrapped_too(assessments: dict[str, Assessment]) -> None:
    assessment = next(iter(assessments.values()))
    long = Warning("data-quality", "warning", "x" * 250, source="labs.hemoglobin")
    text = render_text(dataclasses.replace(assessment, warnings=(long,)))
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.count("x") >= 250


def test_every_part_of_the_assessment_is_shown(assessments: dict[str, Assessment]) -> None:
    for assessment in assessments.values():
        for rendered in _renderings(assessment):
            for result in (assessment.imdc, assessment.mskcc):
                for factor in result.factors:
                    assert factor_label(factor.name) in rendered
                group = result.risk_group or "undetermined"
                assert group in rendered
            therapy = assessment.systemic_therapy
            # Options are shown by their clinical names (the ids stay in the JSON).
            kb = default_knowledge_base()
            for regimen in (*therapy.preferred, *therapy.other, *therapy.certain_circumstances):
                assert escape(regimen_name(regimen, kb)) in rendered
            for title in (
                "Systemic therapy",
                "Cytoreductive nephrectomy",
                "Metastasectomy",
                "Local therapy",
                "Active surveillance",
                "Clinical trial",
                "Genetics",
            ):
                assert title in rendered
            assert assessment.knowledge_base.version in rendered
            assert assessment.knowledge_base.checksum[:12] in rendered
            assert "not a substitute for clinical judgement" in rendered


def test_options_show_their_sources(assessments: dict[str, Assessment]) -> None:
    for assessment in assessments.values():
        text = render_text(assessment)
        for option in assessment.systemic_therapy.options:
            assert option.name in text
            # Sources are numbered references: each one's citation is listed at the end.
            references = " ".join(text.rpartition("References")[2].split())
            for source in option.sources:
                cited = reference(default_knowledge_base().sources[source])
                assert " ".join(cited.split()) in references
                assert f"[{source}" not in text and f" {source}]" not in text


def test_missing_items_and_survival_are_shown(assessments: dict[str, Assessment]) -> None:
    for assessment in assessments.values():
        text = render_text(assessment)
        for missing in assessment.imdc.missing:
            assert f"missing {factor_label(missing.factor)}" in text
        for row in assessment.imdc.survival:
            assert f"{row.median_os_months:g} months" in text


def test_undetermined_group_lists_the_possible_groups(assessments: dict[str, Assessment]) -> None:
    undetermined = [a for a in assessments.values() if a.imdc.risk_group is None]
    assert undetermined, "the incomplete example should leave IMDC undetermined"
    for assessment in undetermined:
        text = render_text(assessment)
        assert "still possible: " + ", ".join(assessment.imdc.possible_groups) in text


def test_critical_warnings_come_first(assessments: dict[str, Assessment]) -> None:
    assessment = next(iter(assessments.values()))
    info = Warning("data-quality", "info", "INFO-NOTE about a lab", source="labs.ldh")
    critical = Warning("brain-metastases", "critical", "CRITICAL-NOTE untreated brain metastases")
    ordered = dataclasses.replace(assessment, warnings=(info, critical))
    for rendered in _renderings(ordered):
        assert rendered.index("CRITICAL-NOTE") < rendered.index("INFO-NOTE")
        # warnings precede the prognosis, so they cannot be scrolled past
        assert rendered.index("CRITICAL-NOTE") < rendered.index("IMDC")


def test_no_colour_unless_asked(assessments: dict[str, Assessment]) -> None:
    assessment = next(iter(assessments.values()))
    assert "\033[" not in render_text(assessment)
    assert "\033[" in render_text(assessment, color=True)


def test_identifiers_are_not_printed(assessments: dict[str, Assessment]) -> None:
    assessment = dataclasses.replace(next(iter(assessments.values())), case_id="MRN-0042-SECRET")
    for rendered in _renderings(assessment):
        assert "MRN-0042-SECRET" not in rendered


def test_markdown_escapes_case_data(assessments: dict[str, Assessment]) -> None:
    hostile = Warning("data-quality", "warning", "value | 3 <script>alert(1)</script>")
    assessment = dataclasses.replace(next(iter(assessments.values())), warnings=(hostile,))
    markdown = render_markdown(assessment)
    assert "<script>" not in markdown
    assert r"value \| 3 \<script\>" in markdown


def test_markdown_structure(assessments: dict[str, Assessment]) -> None:
    for assessment in assessments.values():
        markdown = render_markdown(assessment)
        assert markdown.startswith("# rccnav assessment as of ")
        assert "\n## Systemic therapy\n" in markdown
        assert "\n### IMDC (Heng)\n" in markdown
        assert "| factor | status | evidence |" in markdown
        assert DISCLAIMER in markdown
        assert "\n\n\n" not in markdown


def test_input_summary_is_shown(assessments: dict[str, Assessment]) -> None:
    assessment = next(iter(assessments.values()))
    assert assessment.input_summary is not None
    assert assessment.input_summary.kind in render_text(assessment)


def _vignette_bundles() -> list[Path]:
    from .conftest import VIGNETTES

    return sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("bundle", _vignette_bundles(), ids=lambda p: p.stem)
def test_vignettes_render_within_100_columns(bundle: Path, kb: Any) -> None:
    """The FHIR vignettes reach warnings, urgent measures and later lines: all must fit."""
    pytest.importorskip("rccnav.adapters.fhir.reader")
    on = date.fromisoformat(orjson.loads(bundle.with_suffix(".expected.json").read_bytes())["on"])
    intake = read_input(bundle.read_bytes(), name=bundle.name, on=on, kb=kb)
    assessment = assess_input(intake, kb, on)
    text = render_text(assessment)
    assert max(len(line) for line in text.splitlines()) <= 100
    for warning in assessment.warnings:
        assert warning.code.replace("-", " ") in text
        assert warning.code.replace("-", " ") in render_markdown(assessment)
    for measure in assessment.local_therapy:
        assert measure.urgency.upper() in text


def test_survival_figures_from_other_cohorts_carry_their_caveat(kb: Any) -> None:
    from rccnav import Case
    from rccnav.core.assess import assess

    case = Case.model_validate(
        {
            "diagnosis": {"date": "2024-01-10", "histology": "chromophobe"},
            "performance": {"kps": 90, "date": "2026-10-30"},
        }
    )
    assessment = assess(case, kb, date(2026, 11, 2))
    for rendering in _renderings(assessment):
        flat = " ".join(rendering.split())
        assert "mostly clear-cell RCC" in flat and "chromophobe histology" in flat


def test_before_treating_is_shown_per_offered_regimen(kb: Any) -> None:
    from rccnav import Case
    from rccnav.core.assess import assess

    case = Case.model_validate(
        {
            "diagnosis": {"date": "2024-01-10", "histology": "clear-cell"},
            "performance": {"kps": 90, "date": "2026-10-30"},
        }
    )
    assessment = assess(case, kb, date(2026, 11, 2))
    for rendering in _renderings(assessment):
        flat = " ".join(rendering.split())
        assert "Before treating" in flat
        assert "TSH and free T4" in flat and "urine protein" in flat
