"""HL7 FHIR R4 / mCODE in and out.

- :func:`read_fhir` maps one patient's Bundle / NDJSON / resource to an Intake (a Case
  plus what the reader noticed); codes come from ``knowledge/data/terminology.yaml``.
- :func:`assessment_to_bundle` writes an Assessment as RiskAssessment, RequestGroup,
  DetectedIssue and Provenance resources in a collection Bundle.
"""

from rccnav.adapters.fhir.bundle import index_resources
from rccnav.adapters.fhir.reader import read_fhir, read_index
from rccnav.adapters.fhir.writer import assessment_to_bundle

__all__ = ["assessment_to_bundle", "index_resources", "read_fhir", "read_index"]
