"""FHIR output checked by validators independent of the writer's own model library.

fhirpathpy evaluates the R4 invariants that fhir.resources does not: rqg-1 on every
RequestGroup action (a resource or sub-actions, never both or neither) and dom-6 (a
narrative on every resource). Checked on every vignette's ``--format fhir`` output.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest

from rccnav.adapters.fhir.writer import RXNORM, assessment_to_bundle
from rccnav.adapters.intake import assess_input, read_input
from rccnav.knowledge.loader import default_knowledge_base

VIGNETTES = Path(__file__).resolve().parents[3].parent / "shared" / "vignettes"
FILES = sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))
ON = date(2026, 11, 1)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

#: R4 invariants, as the specification writes them (RequestGroup, DomainResource).
RQG_1 = "action.repeat(action).all(resource.exists() != action.exists())"
DOM_6 = "text.`div`.exists()"


def _bundle(path: Path) -> tuple[dict[str, Any], Any]:
    kb = default_knowledge_base()
    intake = read_input(path.read_bytes(), name=path.name, on=ON, kb=kb)
    assessment = assess_input(intake, kb, ON)
    return assessment_to_bundle(assessment, intake, now=NOW), intake


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


pytestmark = pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_request_group_action_is_a_resource_or_a_group(path: Path) -> None:
    bundle, _ = _bundle(path)
    groups = [r for r in _resources(bundle) if r["resourceType"] == "RequestGroup"]
    assert groups
    for group in groups:
        assert fhirpathpy.evaluate(group, RQG_1) == [True]
    # Each referenced resource is in the Bundle (a proposal, never an order).
    urls = {e["fullUrl"]: e["resource"] for e in bundle["entry"]}
    references = fhirpathpy.evaluate(groups[0], "action.repeat(action).resource.reference")
    assert references
    for reference in references:
        target = urls[reference]
        assert target["resourceType"] in {"MedicationRequest", "ServiceRequest"}
        assert target["intent"] == "proposal" and target["status"] == "draft"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_resource_has_a_generated_narrative(path: Path) -> None:
    bundle, _ = _bundle(path)
    for resource in _resources(bundle):
        assert fhirpathpy.evaluate(resource, DOM_6) == [True], resource["resourceType"]
        assert resource["text"]["status"] == "generated"
        assert resource["text"]["div"].startswith('<div xmlns="http://www.w3.org/1999/xhtml">')


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_subjects_point_at_the_input_patient(path: Path) -> None:
    bundle, intake = _bundle(path)
    assert intake.patient_reference is not None
    assert intake.patient_reference.startswith("Patient/")
    for resource in _resources(bundle):
        subject = resource.get("subject") or resource.get("patient")
        if subject is not None:
            assert subject == {"reference": intake.patient_reference}, resource["resourceType"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_proposed_medications_carry_the_agents_rxnorm_code(path: Path) -> None:
    kb = default_knowledge_base()
    by_name = {agent.name: agent for agent in kb.agents.values()}
    bundle, _ = _bundle(path)
    for resource in _resources(bundle):
        if resource["resourceType"] != "MedicationRequest":
            continue
        concept = resource["medicationCodeableConcept"]
        agent = by_name[concept["text"]]
        codings = [c for c in concept.get("coding", ()) if c["system"] == RXNORM]
        assert [c["code"] for c in codings] == list(agent.rxnorm[:1]), agent.id


def test_a_case_file_without_a_patient_id_keeps_an_identifier_subject() -> None:
    kb = default_knowledge_base()
    example = Path(__file__).resolve().parents[3] / "examples" / "intermediate-risk-clear-cell.yaml"
    intake = read_input(example.read_bytes(), name=example.name, on=ON, kb=kb)
    bundle = assessment_to_bundle(assess_input(intake, kb, ON), intake, now=NOW)
    risk = next(r for r in _resources(bundle) if r["resourceType"] == "RiskAssessment")
    assert "identifier" in risk["subject"] and "reference" not in risk["subject"]
