"""Write an Assessment as a FHIR R4 collection Bundle.

- one RiskAssessment per model (IMDC, MSKCC): ``basis`` references the
  Observations/Conditions each factor was read from, ``prediction`` carries the
  group (or each group still possible) with the published median survival;
- the recommendations as a RequestGroup whose actions cite the knowledge-base
  sources (``documentation`` RelatedArtifacts);
- each warning as a DetectedIssue;
- a Provenance naming rccnav and the knowledge-base version and checksum.

Plain dicts are built here (fast); the tests validate every emitted resource
with the ``fhir.resources`` R4B models.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rccnav.adapters.render.wording import display_units, plain_words
from rccnav.core.assessment import (
    Assessment,
    Decision,
    Reason,
    RiskResult,
    TherapyOption,
    Warning,
)

if TYPE_CHECKING:
    from rccnav.adapters.intake import Intake
    from rccnav.knowledge.model import KnowledgeBase

JSON = dict[str, Any]
RCCNAV_SYSTEM = "https://rccnav.example.org/fhir/CodeSystem"
RISK_PROBABILITY = "http://terminology.hl7.org/CodeSystem/risk-probability"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_REFERENCE = re.compile(r"^(urn:uuid:[0-9a-fA-F-]{36}|[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})$")
_QUALITATIVE = {"favorable": "low", "intermediate": "moderate", "poor": "high"}
_SEVERITY = {"critical": "high", "warning": "moderate", "info": "low"}
_PRIORITY = {"emergency": "stat", "urgent": "urgent", "routine": "routine"}
_MODEL_NAMES = {
    "imdc": "IMDC (Heng) prognostic model",
    "mskcc": "MSKCC (Motzer) prognostic model",
}


def assessment_to_bundle(
    assessment: Assessment,
    intake: Intake | None = None,
    *,
    patient_reference: str | None = None,
    now: datetime | None = None,
) -> JSON:
    """The Assessment as a FHIR R4 ``collection`` Bundle (plain JSON-ready dict).

    ``patient_reference`` (e.g. ``Patient/123`` from the input Bundle) becomes the
    subject; without it the subject is the opaque case id as an identifier.
    """
    writer = _Writer(assessment, _subject(assessment, intake, patient_reference), now)
    return writer.bundle()


def _subject(assessment: Assessment, intake: Intake | None, reference: str | None) -> JSON:
    reference = reference or getattr(intake, "patient_reference", None)
    if isinstance(reference, str) and reference:
        return {"reference": reference}
    return {
        "identifier": {
            "system": f"{RCCNAV_SYSTEM}/case-id",
            "value": assessment.case_id or "unidentified",
        },
        "display": "the assessed patient",
    }


def references_in(source: str | None) -> list[str]:
    """FHIR references named in a fact's ``source`` ("Observation/a + Observation/b")."""
    if not source:
        return []
    parts = re.split(r"\s*(?:\+|,)\s*", source)
    return [part for part in parts if _REFERENCE.match(part)]


class _Writer:
    def __init__(self, assessment: Assessment, subject: JSON, now: datetime | None) -> None:
        self.assessment = assessment
        self.subject = subject
        self.now = (now or datetime.now(UTC)).isoformat(timespec="seconds")
        seed = f"{assessment.case_id}|{assessment.on}|{assessment.knowledge_base.checksum}"
        self.namespace = uuid.uuid5(uuid.NAMESPACE_URL, f"rccnav:{seed}")
        self.entries: list[JSON] = []
        self._kb = _knowledge_base()
        self._citations = (
            {src.id: (src.citation, src.url) for src in self._kb.sources.values()}
            if self._kb
            else {}
        )

    def _add(self, resource: JSON, key: str, summary: str | None = None) -> str:
        resource_id = str(uuid.uuid5(self.namespace, key))
        resource["id"] = resource_id
        # dom-6: every resource carries a human-readable narrative (generated from its data).
        resource["text"] = _narrative(summary or _summary_of(resource))
        full_url = f"urn:uuid:{resource_id}"
        self.entries.append({"fullUrl": full_url, "resource": resource})
        return full_url

    def bundle(self) -> JSON:
        a = self.assessment
        for result in (a.imdc, a.mskcc):
            self._add(self._risk_assessment(result), f"risk:{result.model}")
        self._add(self._request_group(), "recommendations")
        for number, warning in enumerate(a.warnings):
            self._add(self._detected_issue(warning), f"warning:{number}")
        targets = [{"reference": entry["fullUrl"]} for entry in self.entries]
        self._add(self._provenance(targets), "provenance")
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid5(self.namespace, "bundle")),
            "type": "collection",
            "timestamp": self.now,
            "entry": self.entries,
        }

    # ---------------------------------------------------------- risk models

    def _risk_assessment(self, result: RiskResult) -> JSON:
        basis: list[str] = []
        for factor in result.factors:
            for reference in references_in(factor.source):
                if reference not in basis:
                    basis.append(reference)
        groups = (result.risk_group,) if result.risk_group else result.possible_groups
        resource: JSON = {
            "resourceType": "RiskAssessment",
            "status": "final",
            "method": _concept(
                f"{RCCNAV_SYSTEM}/prognostic-model", result.model, _MODEL_NAMES[result.model]
            ),
            "code": {
                "text": f"{result.model.upper()} risk group for metastatic renal cell carcinoma"
            },
            "subject": self.subject,
            "occurrenceDateTime": self.assessment.on.isoformat(),
            "prediction": [self._prediction(result, group) for group in groups],
            "note": [{"text": _factor_note(result)}],
        }
        if basis:
            resource["basis"] = [{"reference": reference} for reference in basis]
        if result.missing:
            resource["note"].append(
                {
                    "text": "Missing: "
                    + "; ".join(f"{m.factor} ({m.needed})" for m in result.missing)
                }
            )
        return resource

    def _prediction(self, result: RiskResult, group: str) -> JSON:
        survival = [s for s in result.survival if s.risk_group == group]
        determined = result.risk_group is not None
        text = f"{result.model.upper()} {group} risk" + ("" if determined else " (possible)")
        rationale = (
            f"{result.factor_count_min} adverse factor(s)"
            if result.factor_count_min == result.factor_count_max
            else f"{result.factor_count_min}-{result.factor_count_max} adverse factors "
            "(some unknown)"
        )
        if survival:
            rationale += "; published median overall survival " + "; ".join(
                f"{s.median_os_months:g} months ({s.setting}, {s.cohort}; {s.review_status})"
                for s in survival
            )
        return {
            "outcome": {"text": text},
            "qualitativeRisk": _concept(RISK_PROBABILITY, _QUALITATIVE[group], None),
            "rationale": rationale,
        }

    # ------------------------------------------------------ recommendations

    def _request_group(self) -> JSON:
        a = self.assessment
        therapy = a.systemic_therapy
        title = f"Systemic therapy, line {therapy.line} ({therapy.setting})"
        description = _reasons_text(therapy.reasons) or "Options by guideline category."
        if therapy.guideline_view != "all":
            description = f"Guideline view: {therapy.guideline_view.upper()} only. {description}"
        systemic: JSON = {
            "title": title,
            "description": description,
            "documentation": self._documentation(_sources(therapy.reasons)),
            "action": [self._option(option) for option in therapy.options],
        }
        if not systemic["action"]:
            # rqg-1: an action without sub-actions must point at a resource.
            systemic["resource"] = self._service_request(
                "systemic-therapy", "systemic-therapy", title, description, "proposal"
            )
        actions: list[JSON] = [systemic]
        decisions: list[tuple[str, Decision]] = [
            ("Cytoreductive nephrectomy", a.cytoreductive_nephrectomy),
            ("Metastasectomy", a.metastasectomy),  # type: ignore[list-item]
            (
                "Adjuvant pembrolizumab after metastasectomy",
                a.metastasectomy.adjuvant_pembrolizumab,
            ),
            ("Active surveillance", a.active_surveillance),
            ("Clinical trial", a.clinical_trial),
            ("Genetic counselling and testing", a.genetics),
        ]
        not_applicable: list[str] = []
        for decision_title, decision in decisions:
            if decision.recommendation == "not-applicable":
                not_applicable.append(decision_title)
                continue
            actions.append(self._decision(decision_title, decision))
        for measure in a.local_therapy:
            measure_text = _reasons_text(measure.reasons) or measure.title
            action: JSON = {
                "title": measure.title,
                "description": measure_text,
                "priority": _PRIORITY.get(measure.urgency, "routine"),
                "code": [_concept(f"{RCCNAV_SYSTEM}/local-therapy", measure.id, measure.title)],
                "resource": self._service_request(
                    f"local:{measure.id}",
                    measure.id,
                    measure.title,
                    measure_text,
                    "proposal",
                    priority=_PRIORITY.get(measure.urgency, "routine"),
                ),
            }
            self._cite(action, _sources(measure.reasons))
            actions.append(action)
        for action in actions:
            if not action.get("documentation"):
                action.pop("documentation", None)
            if not action.get("action"):
                action.pop("action", None)
        notes = [
            {
                "text": "Decision support from rccnav, knowledge base "
                f"{a.knowledge_base.version}; "
                "for review by the treating clinician, not an order."
            }
        ]
        if not_applicable:
            notes.append({"text": "Not applicable to this patient: " + "; ".join(not_applicable)})
        return {
            "resourceType": "RequestGroup",
            "status": "draft",
            "intent": "proposal",
            "subject": self.subject,
            "authoredOn": self.now,
            "note": notes,
            "action": actions,
        }

    def _option(self, option: TherapyOption) -> JSON:
        category = option.category.replace("-", " ")
        description = _reasons_text(option.reasons) or option.name
        guidelines = _guidelines_text(option)
        if guidelines:
            description = f"{description} {guidelines}"
        action: JSON = {
            "prefix": category.capitalize(),
            "title": option.name,
            "description": description,
            "code": [_concept(f"{RCCNAV_SYSTEM}/regimen", option.regimen, option.name)],
        }
        agents = self._regimen_agents(option.regimen)
        if agents:
            # One proposed MedicationRequest per agent (rqg-1: leaves point at resources).
            action["selectionBehavior"] = "all"
            action["action"] = [
                {
                    "title": name,
                    "resource": {
                        "reference": self._medication_request(option.regimen, agent, name)
                    },
                }
                for agent, name in agents
            ]
        else:
            action["resource"] = self._service_request(
                f"option:{option.regimen}", option.regimen, option.name, description, "proposal"
            )
        self._cite(action, (*option.sources, *_sources(option.reasons)))
        return action

    def _regimen_agents(self, regimen_id: str) -> list[tuple[str, str]]:
        regimen = self._kb.regimens.get(regimen_id) if self._kb else None
        if regimen is None or self._kb is None:
            return []
        return [(agent, self._kb.agents[agent].name) for agent in regimen.agents]

    def _medication_request(self, regimen_id: str, agent_id: str, name: str) -> str:
        concept: JSON = {"text": name}
        agent = self._kb.agents.get(agent_id) if self._kb else None
        if agent is not None and agent.rxnorm:
            concept["coding"] = [{"system": RXNORM, "code": agent.rxnorm[0], "display": name}]
        resource: JSON = {
            "resourceType": "MedicationRequest",
            "status": "draft",
            "intent": "proposal",
            "medicationCodeableConcept": concept,
            "subject": self.subject,
            "authoredOn": self.now,
            "note": [
                {"text": f"Part of the option {regimen_id}; proposal for review, not an order."}
            ],
        }
        return self._add(
            resource,
            f"medication:{regimen_id}:{agent_id}",
            f"Proposed (not ordered): {name}, as part of {regimen_id}.",
        )

    def _service_request(
        self,
        key: str,
        code: str,
        title: str,
        description: str,
        intent: str,
        *,
        priority: str | None = None,
        do_not_perform: bool = False,
    ) -> JSON:
        resource: JSON = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": intent,
            "code": _concept(f"{RCCNAV_SYSTEM}/recommendation-topic", code, title),
            "subject": self.subject,
            "authoredOn": self.now,
            "note": [{"text": description}],
        }
        if priority:
            resource["priority"] = priority
        if do_not_perform:
            resource["doNotPerform"] = True
        verb = "Not recommended" if do_not_perform else "Proposed"
        reference = self._add(
            resource, f"service:{key}", f"{verb} (for review, not an order): {title}. {description}"
        )
        return {"reference": reference}

    def _decision(self, title: str, decision: Decision) -> JSON:
        action: JSON = {
            "title": title,
            "description": f"{decision.recommendation}: {_reasons_text(decision.reasons)}".rstrip(
                ": "
            ),
            "code": [_concept(f"{RCCNAV_SYSTEM}/recommendation", decision.recommendation, None)],
        }
        if decision.unknowns:
            action["textEquivalent"] = "Unknown: " + "; ".join(decision.unknowns)
        action["resource"] = self._service_request(
            f"decision:{title}",
            title.lower().replace(" ", "-"),
            title,
            action["description"],
            "proposal",
            do_not_perform=decision.recommendation == "not-recommended",
        )
        self._cite(action, _sources(decision.reasons))
        return action

    def _cite(self, action: JSON, sources: Iterable[str]) -> None:
        documentation = self._documentation(sources)
        if documentation:
            action["documentation"] = documentation

    def _documentation(self, sources: Iterable[str]) -> list[JSON]:
        artifacts: list[JSON] = []
        for source_id in dict.fromkeys(sources):
            citation, url = self._citations.get(source_id, (None, None))
            artifact: JSON = {"type": "citation", "label": source_id}
            if citation:
                artifact["citation"] = citation
            if url:
                artifact["url"] = url
            artifacts.append(artifact)
        return artifacts

    # -------------------------------------------------------------- others

    def _detected_issue(self, warning: Warning) -> JSON:
        resource: JSON = {
            "resourceType": "DetectedIssue",
            "status": "final",
            "code": _concept(
                f"{RCCNAV_SYSTEM}/warning", warning.code, warning.code.replace("-", " ")
            ),
            "severity": _SEVERITY.get(warning.severity, "moderate"),
            "identifiedDateTime": self.assessment.on.isoformat(),
            "detail": warning.message,
        }
        if "reference" in self.subject:
            resource["patient"] = self.subject
        implicated = references_in(warning.source)
        if implicated:
            resource["implicated"] = [{"reference": reference} for reference in implicated]
        if warning.sources:
            resource["reference"] = f"{RCCNAV_SYSTEM}/source#{warning.sources[0]}"
        return resource

    def _provenance(self, targets: list[JSON]) -> JSON:
        from rccnav import __version__

        kb = self.assessment.knowledge_base
        return {
            "resourceType": "Provenance",
            "target": targets,
            "recorded": self.now,
            "activity": {"text": "clinical decision support assessment"},
            "agent": [
                {
                    "type": _concept(
                        "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "assembler",
                        "Assembler",
                    ),
                    "who": {"display": f"rccnav {__version__}"},
                }
            ],
            "entity": [
                {
                    "role": "source",
                    "what": {
                        "identifier": {
                            "system": f"{RCCNAV_SYSTEM}/knowledge-base",
                            "value": kb.version,
                        },
                        "display": f"rccnav knowledge base {kb.version} (sha256 {kb.checksum})",
                    },
                }
            ],
        }


def _concept(system: str, code: str, display: str | None) -> JSON:
    coding: JSON = {"system": system, "code": code}
    if display:
        coding["display"] = display
    concept: JSON = {"coding": [coding]}
    if display:
        concept["text"] = display
    return concept


def _factor_note(result: RiskResult) -> str:
    return "; ".join(f"{f.name}: {f.status} ({f.evidence})" for f in result.factors)


def _reasons_text(reasons: Iterable[Reason]) -> str:
    return " ".join(reason.text for reason in reasons)


def _sources(reasons: Iterable[Reason]) -> tuple[str, ...]:
    return tuple(source for reason in reasons for source in reason.sources)


def _knowledge_base() -> KnowledgeBase | None:
    """The bundled knowledge base (citations, regimen agents, RxNorm codes)."""
    from rccnav.knowledge.loader import default_knowledge_base

    try:
        return default_knowledge_base()
    except Exception:  # a broken knowledge base must not stop writing the result
        return None


def _narrative(text: str) -> JSON:
    """A generated XHTML narrative (FHIR dom-6; the div must be well-formed XHTML).

    The narrative is what an EHR shows a clinician: units for display and no table,
    case-file field or regimen ids (the coded elements keep them)."""
    kb = _knowledge_base()
    if kb is not None:
        text = plain_words(display_units(text), kb)
    body = html.escape(text, quote=False)
    return {
        "status": "generated",
        "div": f'<div xmlns="http://www.w3.org/1999/xhtml"><p>{body}</p></div>',
    }


def _summary_of(resource: JSON) -> str:
    kind = resource["resourceType"]
    if kind == "RiskAssessment":
        outcomes = "; ".join(p["outcome"]["text"] for p in resource.get("prediction", ()))
        return f"{resource['code']['text']}: {outcomes}."
    if kind == "RequestGroup":
        titles = "; ".join(a["title"] for a in resource.get("action", ()))
        return f"rccnav recommendations for review (not orders): {titles}."
    if kind == "DetectedIssue":
        return f"Warning ({resource['severity']}): {resource['detail']}"
    if kind == "Provenance":
        return f"Produced by rccnav decision support; {resource['entity'][0]['what']['display']}"
    return str(kind)


def _guidelines_text(option: TherapyOption) -> str:
    """'Guidelines disagree: NCCN: other recommended (category 2B); EAU: ...' (or agree)."""
    if not option.guideline_positions:
        return ""
    parts = "; ".join(
        f"{p.guideline.upper()}"
        + (f" ({' or '.join(p.risk_groups)} risk)" if p.risk_groups else "")
        + f": {p.text}"
        for p in option.guideline_positions
    )
    lead = "Guidelines disagree" if option.guideline_disagreement else "Guidelines"
    return f"{lead}: {parts}."
