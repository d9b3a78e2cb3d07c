"""The Assessment: rccnav's one result type.

Plain frozen dataclasses keep ``assess()`` fast; pydantic's ``TypeAdapter``
derives the published JSON Schema from the same classes
(``rccnav.adapters.schema``), and orjson serialises them directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from rccnav.core.records import quick_init

FactorStatus = Literal["present", "absent", "unknown"]
RiskGroupName = Literal["favorable", "intermediate", "poor"]
Severity = Literal["info", "warning", "critical"]
GuidelineBodyName = Literal["nccn", "eau", "esmo"]
#: Whose listing the systemic-therapy options follow: "all" merges the three guidelines.
GuidelineViewName = Literal["all", "nccn", "eau", "esmo"]


@quick_init
@dataclass(frozen=True, slots=True)
class Reason:
    """One reason behind a recommendation, with the knowledge-base rule and sources."""

    text: str
    rule: str | None = None
    sources: tuple[str, ...] = ()
    review_status: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Factor:
    name: str
    status: FactorStatus
    evidence: str
    value: float | None = None
    unit: str | None = None
    threshold: str | None = None
    reference: str | None = None
    source: str | None = None
    observed_on: date | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class MissingItem:
    """An unknown factor and what knowing it could change."""

    factor: str
    needed: str
    could_change_group: bool
    # IMDC decides the regimen tables, so only IMDC items can be true here.
    could_change_regimens: bool = False


@quick_init
@dataclass(frozen=True, slots=True)
class Survival:
    risk_group: RiskGroupName
    median_os_months: float
    setting: str
    cohort: str
    sources: tuple[str, ...]
    review_status: str
    #: What the cohort does not cover for this patient (histology, line), if anything.
    caveat: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class RiskResult:
    model: Literal["imdc", "mskcc"]
    risk_group: RiskGroupName | None
    possible_groups: tuple[RiskGroupName, ...]
    factor_count_min: int
    factor_count_max: int
    factors: tuple[Factor, ...]
    missing: tuple[MissingItem, ...]
    survival: tuple[Survival, ...]
    rule: str
    sources: tuple[str, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class GuidelinePosition:
    """What one guideline (NCCN, EAU or ESMO) says about an option in this setting."""

    guideline: GuidelineBodyName
    #: preferred | other-recommended | certain-circumstances | recommended | alternative |
    #: not-recommended | not-addressed | not-recorded (unknown: rccnav holds no position yet)
    listing: str
    #: Clinician wording, e.g. "other recommended (category 2B)".
    text: str
    strength: str | None
    condition: str | None
    sources: tuple[str, ...]
    review_status: str
    #: The IMDC groups this position is for, when the group is undetermined and it differs.
    risk_groups: tuple[RiskGroupName, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class TherapyOption:
    regimen: str
    category: Literal["preferred", "other", "certain-circumstances"]
    name: str
    reasons: tuple[Reason, ...]
    sources: tuple[str, ...]
    review_status: str
    only_if_risk: tuple[RiskGroupName, ...] = ()
    cautions: tuple[str, ...] = ()
    # A relative contraindication applies: the option is shown, but never promoted.
    contraindicated: bool = False
    # The category the guideline table gave it, when rccnav moved it up (promotion).
    moved_from: Literal["other", "certain-circumstances"] | None = None
    #: NCCN, EAU and ESMO side by side for this option in this setting.
    guideline_positions: tuple[GuidelinePosition, ...] = ()
    #: Where the guidelines disagree about it, in plain words (else None).
    guideline_disagreement: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class NoPreferred:
    """Why no option is preferred, and what to do next (never an unexplained empty list)."""

    reason: Reason
    next_steps: tuple[str, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class ExcludedOption:
    regimen: str
    reason: Reason
    guideline_positions: tuple[GuidelinePosition, ...] = ()
    guideline_disagreement: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class SystemicTherapy:
    line: int
    setting: str
    preferred: tuple[str, ...]
    other: tuple[str, ...]
    certain_circumstances: tuple[str, ...]
    options: tuple[TherapyOption, ...]
    excluded: tuple[ExcludedOption, ...]
    depends_on_unknown_risk: bool
    reasons: tuple[Reason, ...]
    tables: tuple[str, ...]
    # Set exactly when ``preferred`` is empty.
    no_preferred: NoPreferred | None = None
    #: Whose listing the options follow ("all": the three guidelines merged).
    guideline_view: GuidelineViewName = "all"


@quick_init
@dataclass(frozen=True, slots=True)
class Decision:
    """A recommendation from one decision module, with its reasons."""

    recommendation: str
    reasons: tuple[Reason, ...]
    unknowns: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class LocalMeasure:
    id: str
    title: str
    urgency: Literal["emergency", "urgent", "routine"]
    reasons: tuple[Reason, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class Metastasectomy:
    recommendation: str
    reasons: tuple[Reason, ...]
    unknowns: tuple[str, ...]
    adjuvant_pembrolizumab: Decision


@quick_init
@dataclass(frozen=True, slots=True)
class MonitoringCheck:
    """One baseline check or monitoring item, for the agents of a regimen that need it."""

    id: str
    check: str
    when: str
    why: str
    agents: tuple[str, ...]
    sources: tuple[str, ...]
    review_status: str


@quick_init
@dataclass(frozen=True, slots=True)
class BeforeTreating:
    """What to check before and during one offered regimen (or bone-targeted agent)."""

    option: str
    name: str
    checks: tuple[MonitoringCheck, ...]


@quick_init
@dataclass(frozen=True, slots=True)
class Warning:
    code: str
    severity: Severity
    message: str
    source: str | None = None
    rule: str | None = None
    sources: tuple[str, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class KnowledgeBaseRef:
    version: str
    checksum: str
    #: Version of the NCCN / EAU / ESMO positions table (signed off on its own).
    guideline_positions_version: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class InputSummary:
    """What the adapter read: the kind of input and resources used or not used."""

    kind: str
    used: dict[str, int] = field(default_factory=dict)
    unused: dict[str, int] = field(default_factory=dict)


@quick_init
@dataclass(frozen=True, slots=True)
class Assessment:
    on: date
    case_id: str | None
    knowledge_base: KnowledgeBaseRef
    imdc: RiskResult
    mskcc: RiskResult
    systemic_therapy: SystemicTherapy
    cytoreductive_nephrectomy: Decision
    metastasectomy: Metastasectomy
    local_therapy: tuple[LocalMeasure, ...]
    active_surveillance: Decision
    clinical_trial: Decision
    genetics: Decision
    warnings: tuple[Warning, ...]
    ignored_data: tuple[str, ...] = field(default_factory=tuple)
    input_summary: InputSummary | None = None
    before_treating: tuple[BeforeTreating, ...] = field(default_factory=tuple)
