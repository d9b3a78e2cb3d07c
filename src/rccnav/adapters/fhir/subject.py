"""Whose data is this? The one rule deciding whether a resource is the Patient's.

A resource is read as this patient's only when its ``subject`` (or ``patient``)
reference resolves to the input's one Patient:

- a relative reference ``Patient/<id>`` to the Patient's id (a version
  ``/_history/n`` is ignored), unless the resource's own ``fullUrl`` places it on
  another server than the Patient's ``fullUrl``;
- the Patient's ``fullUrl`` itself (``urn:uuid:...`` or an absolute URL);
- a logical reference (``identifier``, or a conditional ``Patient?identifier=``)
  whose system and value are both an identifier the Patient carries.

Anything else is not used: a contained Patient (``#p2``), another Patient id, an
absolute URL that is not the Patient's ``fullUrl`` (another server), an
identifier the Patient does not carry or one without a system, a reference with a
display only, a subject that is not a Patient (a Group, a Device), or no subject
at all on a resource type that is about a patient. The CLI and ``/api/assess``
set such resources aside with a ``data-quality`` warning; the CDS Hooks service
refuses a prefetch holding data that is positively about another patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import unquote

from rccnav.adapters.fhir.values import JSON, as_dict, as_str, dicts

#: Elements that name whose record a resource belongs to (R4: ``subject``; ``patient``
#: on AllergyIntolerance, Immunization, FamilyMemberHistory, BodyStructure, Coverage...).
SUBJECT_KEYS = ("subject", "patient")

#: Resource types that always belong to one patient's record: without a subject they
#: cannot be attributed. Types with no subject element (Medication, Practitioner,
#: Organization, Location, Substance) are shared definitions and are not checked.
PATIENT_DATA_TYPES = frozenset(
    {
        "AdverseEvent",
        "AllergyIntolerance",
        "BodyStructure",
        "CarePlan",
        "ClinicalImpression",
        "Condition",
        "DiagnosticReport",
        "DocumentReference",
        "Encounter",
        "FamilyMemberHistory",
        "Flag",
        "Immunization",
        "MedicationAdministration",
        "MedicationDispense",
        "MedicationRequest",
        "MedicationStatement",
        "Observation",
        "Procedure",
        "RiskAssessment",
        "ServiceRequest",
        "Specimen",
    }
)


class Whose(Enum):
    THIS_PATIENT = "this patient"
    #: Positively about a different patient (the CDS Hooks service refuses these).
    ANOTHER_PATIENT = "another patient"
    #: Not attributable to anyone in particular (display only, no subject...).
    UNATTRIBUTED = "unattributed"
    #: Not a patient-specific resource (Medication, Practitioner...): not checked.
    SHARED = "shared"


@dataclass(frozen=True, slots=True)
class Verdict:
    whose: Whose
    why: str = ""


_MINE = Verdict(Whose.THIS_PATIENT)
_SHARED = Verdict(Whose.SHARED)


def _strip_version(reference: str) -> str:
    cut = reference.find("/_history/")
    return reference[:cut] if cut >= 0 else reference


def _server_base(url: str | None) -> str | None:
    """``https://host/fhir`` from ``https://host/fhir/Type/id``; None for urn: or relative."""
    if not url or "://" not in url:
        return None
    parts = _strip_version(url).rstrip("/").split("/")
    return "/".join(parts[:-2]) if len(parts) >= 5 else None


def _identifier_key(value: Any) -> tuple[str, str] | None:
    identifier = as_dict(value)
    if identifier is None:
        return None
    system, text = as_str(identifier.get("system")), as_str(identifier.get("value"))
    # Without a system an identifier value is not unique to anyone.
    return (system.strip(), text.strip()) if system and text else None


class SubjectRule:
    """Decides, for each resource, whether it is about the one Patient."""

    __slots__ = ("_base", "_full_url", "_id", "_identifiers", "_own_reference")

    def __init__(self, patient: JSON, full_url: str | None) -> None:
        self._id = as_str(patient.get("id"))
        self._full_url = _strip_version(full_url) if full_url else None
        self._base = _server_base(full_url)
        self._identifiers = {
            key for item in dicts(patient.get("identifier")) if (key := _identifier_key(item))
        }
        # The usual subject, {"reference": "Patient/<id>"}: judged MINE at once when it
        # is exactly that (no type, identifier, version or address to look into) and the
        # resource has no fullUrl of its own; anything else takes the full rule below.
        plain = self._id is not None and self._id == self._id.strip() and "/" not in self._id
        self._own_reference = f"Patient/{self._id}" if plain else None

    def judge(self, resource: JSON, full_url: str | None = None) -> Verdict:
        """Whose record ``resource`` (with its entry ``fullUrl``, if any) belongs to."""
        present = [key for key in SUBJECT_KEYS if key in resource]
        if not present:
            if resource.get("resourceType") in PATIENT_DATA_TYPES:
                return Verdict(Whose.UNATTRIBUTED, "it names no patient (no subject)")
            return _SHARED
        own = self._own_reference if full_url is None else None
        for key in present:
            value = resource[key]
            if (
                own is not None
                and type(value) is dict
                and len(value) == 1
                and value.get("reference") == own
            ):
                continue
            verdict = self._judge_reference(value, resource, key, full_url)
            if verdict.whose is not Whose.THIS_PATIENT:
                return verdict
        return _MINE

    def _judge_reference(
        self, value: Any, resource: JSON, key: str, full_url: str | None
    ) -> Verdict:
        ref = as_dict(value)
        if ref is None:
            return Verdict(Whose.UNATTRIBUTED, f"its {key} is not a reference")
        reference = as_str(ref.get("reference"))
        identifier = ref.get("identifier")
        declared = as_str(ref.get("type"))
        if declared is not None and declared.strip() != "Patient":
            # Reference.type names what the reference points to: a Group or another type
            # with this Patient's id or identifier is not this Patient.
            return Verdict(Whose.UNATTRIBUTED, f"its {key} is declared a {declared}, not a Patient")
        if reference is None and identifier is None:
            if as_str(ref.get("display")):
                return Verdict(
                    Whose.UNATTRIBUTED,
                    f"its {key} is a name only (display), which cannot identify the patient",
                )
            return Verdict(Whose.UNATTRIBUTED, f"its {key} is empty")
        if identifier is not None:
            verdict = self._judge_identifier(identifier, key)
            if verdict.whose is not Whose.THIS_PATIENT:
                return verdict
        if reference is not None:
            return self._judge_literal(reference.strip(), resource, key, full_url)
        return _MINE

    def _judge_identifier(self, identifier: Any, key: str) -> Verdict:
        wanted = _identifier_key(identifier)
        if wanted is None:
            return Verdict(
                Whose.UNATTRIBUTED,
                f"its {key} identifier has no system and value, so it cannot identify the patient",
            )
        if wanted in self._identifiers:
            return _MINE
        return Verdict(
            Whose.ANOTHER_PATIENT, f"its {key} identifier is not one the Patient carries"
        )

    def _judge_literal(
        self, reference: str, resource: JSON, key: str, full_url: str | None
    ) -> Verdict:
        if reference.startswith("#"):
            for contained in dicts(resource.get("contained")):
                if (
                    contained.get("id") == reference[1:]
                    and contained.get("resourceType") == "Patient"
                ):
                    return Verdict(
                        Whose.ANOTHER_PATIENT, f"its {key} is a Patient contained in the resource"
                    )
            return Verdict(Whose.UNATTRIBUTED, f"its {key} refers to a contained resource")
        if reference.startswith("Patient?"):
            return self._judge_conditional(reference, key)
        reference = _strip_version(reference)
        if self._full_url is not None and reference == self._full_url:
            return _MINE
        if reference.startswith("urn:"):
            return Verdict(
                Whose.ANOTHER_PATIENT, f"its {key} refers to another entry ({reference})"
            )
        if "://" in reference:
            if self._full_url is None or "://" not in self._full_url:
                return Verdict(
                    Whose.UNATTRIBUTED,
                    f"its {key} is an address ({reference}) and the input does not give "
                    "the Patient's address to compare it with",
                )
            return Verdict(
                Whose.ANOTHER_PATIENT,
                f"its {key} is an address ({reference}) that is not the Patient's "
                f"({self._full_url})",
            )
        kind, _, rid = reference.partition("/")
        if kind != "Patient":
            return Verdict(
                Whose.UNATTRIBUTED, f"its {key} is a {kind or 'reference'}, not a Patient"
            )
        if self._id is None or rid != self._id:
            return Verdict(Whose.ANOTHER_PATIENT, f"its {key} is another Patient ({reference})")
        own_base = _server_base(full_url)
        if own_base and self._base and own_base != self._base:
            # FHIR resolves a relative reference against the entry's own server.
            return Verdict(
                Whose.ANOTHER_PATIENT,
                f"its {key} {reference} is on the resource's server ({own_base}), "
                "not the Patient's",
            )
        return _MINE

    def _judge_conditional(self, reference: str, key: str) -> Verdict:
        query = reference.partition("?")[2]
        for part in query.split("&"):
            name, _, value = part.partition("=")
            value = unquote(value)
            if name == "identifier" and "|" in value:
                system, _, text = value.partition("|")
                if system and text and (system, text) in self._identifiers:
                    return _MINE
                return Verdict(
                    Whose.ANOTHER_PATIENT,
                    f"its {key} search names an identifier the Patient does not carry",
                )
        return Verdict(
            Whose.UNATTRIBUTED,
            f"its {key} is a search ({reference}) that does not name the Patient",
        )
