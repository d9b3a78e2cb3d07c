"""The FHIR writer: every emitted resource validates against the fhir.resources R4B models."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from rccnav.adapters.fhir.writer import assessment_to_bundle, references_in
from rccnav.adapters.intake import assess_input, read_input
from rccnav.knowledge.loader import default_knowledge_base

VIGNETTES = Path(__file__).resolve().parents[3].parent / "shared" / "vignettes"
FILES = sorted(p for p in VIGNETTES.glob("*.json") if not p.name.endswith(".expected.json"))
ON = date(2026, 11, 1)
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _bundle(path: Path, **kwargs: Any) -> dict[str, Any]:
    kb = default_knowledge_base()
    intake = read_input(path.read_bytes(), name=path.name, on=ON, kb=kb)
    assessment = assess_input(intake, kb, ON)
    return assessment_to_bundle(assessment, intake, now=NOW, **kwargs)


def _of(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")
@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bundle_validates_with_r4b_models(path: Path) -> None:
    bundle = _bundle(path)
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("RiskAssessment") == 2 and kinds.count("RequestGroup") == 1
    assert kinds[-1] == "Provenance"


@pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")
def test_risk_assessment_basis_and_prediction() -> None:
    bundle = _bundle(VIGNETTES / "p03-poor.json")
    imdc = next(
        r for r in _of(bundle, "RiskAssessment") if r["method"]["coding"][0]["code"] == "imdc"
    )
    basis = {b["reference"] for b in imdc["basis"]}
    assert any(ref.startswith("Observation/") for ref in basis)
    assert any(ref.startswith("Condition/") for ref in basis)
    (prediction,) = imdc["prediction"]
    assert prediction["qualitativeRisk"]["coding"][0]["code"] == "high"
    assert "7.8 months" in prediction["rationale"]


@pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")
def test_undetermined_group_lists_each_possible_group() -> None:
    bundle = _bundle(VIGNETTES / "p06-no-calcium.json")
    imdc = next(
        r for r in _of(bundle, "RiskAssessment") if r["method"]["coding"][0]["code"] == "imdc"
    )
    outcomes = {p["outcome"]["text"] for p in imdc["prediction"]}
    assert outcomes == {"IMDC favorable risk (possible)", "IMDC intermediate risk (possible)"}


@pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")
def test_warnings_actions_and_provenance() -> None:
    bundle = _bundle(VIGNETTES / "p12-lupus.json", patient_reference="Patient/p12")
    issues = _of(bundle, "DetectedIssue")
    assert any(i["code"]["coding"][0]["code"] == "ici-contraindication" for i in issues)
    assert all(i["patient"] == {"reference": "Patient/p12"} for i in issues)
    (group,) = _of(bundle, "RequestGroup")
    cited = [a for a in group["action"][0]["action"] if a.get("documentation")]
    assert cited and all(d["type"] == "citation" for a in cited for d in a["documentation"])
    (provenance,) = _of(bundle, "Provenance")
    assert provenance["agent"][0]["who"]["display"].startswith("rccnav ")
    kb = default_knowledge_base()
    assert kb.version in provenance["entity"][0]["what"]["display"]
    assert len(provenance["target"]) == len(bundle["entry"]) - 1


@pytest.mark.skipif(not FILES, reason="../shared/vignettes is not present")
def test_output_is_reproducible() -> None:
    assert _bundle(VIGNETTES / "p01-favorable-si.json") == _bundle(
        VIGNETTES / "p01-favorable-si.json"
    )


def test_references_in_sources() -> None:
    assert references_in("Observation/a + Observation/b") == ["Observation/a", "Observation/b"]
    assert references_in("labs.hemoglobin") == []
    assert references_in(None) == []
