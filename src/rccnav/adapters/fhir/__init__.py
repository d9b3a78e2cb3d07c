"""HL7 FHIR R4 / mCODE in and out.

- :func:`read_fhir` maps one patient's Bundle / NDJSON / resource to an Intake (a Case
  plus what the reader noticed); codes come from ``knowledge/data/terminology.yaml``.
- :func:`assessment_to_bundle` writes an Assessment as RiskAssessment, RequestGroup,
  DetectedIssue and Provenance resources in a collection Bundle.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rccnav.adapters.fhir.bundle import index_resources
    from rccnav.adapters.fhir.reader import read_fhir, read_index
    from rccnav.adapters.fhir.writer import assessment_to_bundle

__all__ = ["assessment_to_bundle", "index_resources", "read_fhir", "read_index"]

# Imported on first use (PEP 562): a case-file assessment needs none of the FHIR
# modules, and the command line's start-up time is most of a single assessment.
_HOME = {
    "assessment_to_bundle": "rccnav.adapters.fhir.writer",
    "index_resources": "rccnav.adapters.fhir.bundle",
    "read_fhir": "rccnav.adapters.fhir.reader",
    "read_index": "rccnav.adapters.fhir.reader",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(import_module(_HOME[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
