"""Schema of the knowledge base: the guideline content rccnav reasons with.

The data lives in YAML files under ``knowledge/data`` that a clinician reviews;
this module validates them on load so a broken reference fails loudly at
start-up, never silently at the bedside.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _KB(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class ReviewStatus(StrEnum):
    """Whether a clinician has checked the item against its primary source."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    DESIGN_CHOICE = "design-choice"


class Source(_KB):
    id: str
    citation: str
    url: str | None = None
    kind: Literal[
        "guideline", "trial", "review", "cohort", "consensus", "label", "reference", "secondary"
    ]


class AgentClass(StrEnum):
    PD1 = "pd-1-inhibitor"
    PDL1 = "pd-l1-inhibitor"
    CTLA4 = "ctla-4-inhibitor"
    VEGFR_TKI = "vegfr-tki"
    VEGF_ANTIBODY = "vegf-antibody"
    MTOR = "mtor-inhibitor"
    HIF2A = "hif-2a-inhibitor"
    CYTOKINE = "cytokine"
    EGFR_TKI = "egfr-tki"
    MET_TKI = "met-tki"
    CHEMOTHERAPY = "cytotoxic-chemotherapy"
    PROGESTIN = "progestin"
    IMMUNOMODULATOR = "immunomodulator"
    VACCINE = "vaccine"
    CELL_THERAPY = "cell-therapy"
    BONE_TARGETED = "bone-targeted"
    OTHER = "other"


CHECKPOINT_CLASSES = frozenset({AgentClass.PD1, AgentClass.PDL1, AgentClass.CTLA4})
PD1_AXIS_CLASSES = frozenset({AgentClass.PD1, AgentClass.PDL1})


class Agent(_KB):
    id: str = Field(description="Lowercase INN, spaces as hyphens")
    name: str
    agent_class: AgentClass = Field(alias="class")
    mechanism: str
    aliases: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()
    rxnorm_status: ReviewStatus | None = None
    atc: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


class Regimen(_KB):
    id: str
    agents: tuple[str, ...]
    name: str
    pivotal_trial: str | None = None
    key_results: str | None = None
    dosing: str | None = None
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class NonDrugOption(_KB):
    id: str
    name: str
    description: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


RiskGroup = Literal["favorable", "intermediate", "poor"]


class FallbackTier(_KB):
    """Options a guideline names for when its preferred regimens cannot be given.

    ``when`` says which loss the tier answers: ``no-checkpoint-inhibitor`` applies once no
    preferred regimen containing a checkpoint inhibitor is left; ``no-preferred`` once no
    preferred regimen at all is left. Tiers are tried in order; the first with an option
    the patient can have is promoted.
    """

    when: Literal["no-checkpoint-inhibitor", "no-preferred"]
    options: tuple[str, ...] = Field(min_length=1)
    statement: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class TherapyTable(_KB):
    """One row of a recommendation table: a setting and the options it lists."""

    id: str
    line: Literal["first", "subsequent"]
    histologies: tuple[str, ...] = Field(min_length=1)
    risk_groups: tuple[RiskGroup, ...] = ("favorable", "intermediate", "poor")
    after_classes: tuple[str, ...] = Field(
        default=(),
        description="For subsequent lines: prior exposure this row applies to "
        "(any of: checkpoint-inhibitor, vegf-targeted); empty means any",
    )
    preferred: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    certain_circumstances: tuple[str, ...] = ()
    fallback: tuple[FallbackTier, ...] = ()
    notes: str | None = None
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


GuidelineBody = Literal["nccn", "eau", "esmo"]
GuidelineView = Literal["all", "nccn", "eau", "esmo"]
GUIDELINE_BODIES: tuple[GuidelineBody, ...] = ("nccn", "eau", "esmo")
GUIDELINE_VIEWS: tuple[GuidelineView, ...] = ("all", *GUIDELINE_BODIES)
TableCategory = Literal["preferred", "other", "certain-circumstances"]
Listing = Literal[
    "preferred",
    "other-recommended",
    "certain-circumstances",
    "recommended",
    "alternative",
    "not-recommended",
    "not-addressed",
    "not-recorded",
]

#: Where a listing puts an option in that guideline's own view (None: not listed there).
#: ``not-recorded`` is handled apart: unknown, shown as in the merged table.
LISTING_CATEGORY: dict[str, TableCategory | None] = {
    "preferred": "preferred",
    "recommended": "preferred",
    "other-recommended": "other",
    "alternative": "other",
    "certain-circumstances": "certain-circumstances",
    "not-recommended": None,
    "not-addressed": None,
    "not-recorded": None,
}

#: Clinician wording for each listing.
LISTING_LABEL: dict[str, str] = {
    "preferred": "preferred",
    "recommended": "recommended",
    "other-recommended": "other recommended",
    "alternative": "an alternative",
    "certain-circumstances": "useful in certain circumstances",
    "not-recommended": "not recommended",
    "not-addressed": "not listed",
    "not-recorded": "position not recorded in rccnav (check the guideline)",
}


class GuidelineBodyInfo(_KB):
    id: GuidelineBody
    name: str
    edition: str
    source: str


class PositionEntry(_KB):
    """One guideline's position on one option in one setting, as the YAML states it."""

    listing: Listing
    strength: str | None = Field(default=None, description="Category of evidence or strength")
    condition: str | None = Field(default=None, description="When the guideline uses it")
    note: str | None = None
    sources: tuple[str, ...] = ()
    status: ReviewStatus | None = None


class MergedPlacement(_KB):
    """Where the merged view shows an option its therapy table does not list, and why."""

    category: TableCategory
    why: str = Field(min_length=1)
    sources: tuple[str, ...] = Field(min_length=1)


class OptionPositions(_KB):
    merged: MergedPlacement | None = None
    nccn: PositionEntry | None = None
    eau: PositionEntry | None = None
    esmo: PositionEntry | None = None


class SettingPositions(_KB):
    setting: str = Field(description="Id of the therapy table this setting is")
    status: ReviewStatus
    default: dict[GuidelineBody, Literal["not-recorded", "not-addressed"]] = Field(
        default_factory=dict
    )
    options: dict[str, OptionPositions]


class GuidelinePositions(_KB):
    version: str = ""
    sign_off: dict[str, str] = Field(default_factory=dict)
    bodies: tuple[GuidelineBodyInfo, ...] = ()
    settings: tuple[SettingPositions, ...] = ()


class ResolvedPosition(_KB):
    """A position with defaults applied, its sources and status resolved (loader output)."""

    body: GuidelineBody
    listing: Listing
    strength: str | None = None
    condition: str | None = None
    note: str | None = None
    text: str = Field(description="Clinician wording, e.g. 'other recommended (category 2B)'")
    sources: tuple[str, ...]
    status: ReviewStatus

    @property
    def category(self) -> TableCategory | None:
        """Where this guideline's own view lists the option (None: not listed)."""
        listed = LISTING_CATEGORY[self.listing]
        if listed is not None and self.condition:
            return "certain-circumstances"
        return listed


class Rule(_KB):
    """A clinical statement the decision code applies; the code refers to it by id."""

    id: str
    statement: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus
    parameters: dict[str, float | int | str | bool] = Field(default_factory=dict)


class Contraindication(_KB):
    id: str
    comorbidity: str = Field(description="Field of Case.comorbidities")
    agent_classes: tuple[AgentClass, ...] = ()
    agents: tuple[str, ...] = ()
    severity: Literal["absolute", "relative", "caution"]
    warning_code: str
    message: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class TherapyCategoryRule(_KB):
    """An agent class or list of agents that is ineffective or experimental in RCC."""

    id: str
    kind: Literal["ineffective", "experimental", "low-benefit"]
    agent_classes: tuple[AgentClass, ...] = ()
    agents: tuple[str, ...] = ()
    except_histologies: tuple[str, ...] = ()
    message: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class NonstandardCombination(_KB):
    id: str
    agents: tuple[str, ...]
    likely_meant: tuple[str, ...]
    message: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class Analyte(_KB):
    id: str
    name: str
    canonical_unit: str
    molar_mass_g_per_mol: float | None = None
    plausible_range: tuple[float, float]
    loinc: tuple[str, ...] = ()


class DefaultLimit(_KB):
    """A fallback reference limit used when the lab gave none, as an interval.

    ``[low, high]`` spans the limits in use across laboratories (and sexes when
    sex is unknown); a value is classified only if it falls outside the whole
    interval, so a fallback never decides a borderline value.
    """

    analyte: str
    limit: Literal["lower", "upper"]
    sex: Literal["female", "male", "any"] = "any"
    low: float
    high: float
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class SurvivalRow(_KB):
    model: Literal["imdc", "mskcc"]
    setting: Literal["first-line", "second-line"]
    risk_group: RiskGroup
    median_os_months: float
    cohort: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus


class MonitoringItem(_KB):
    """A baseline check or monitoring a drug class or agent needs (label, guidelines)."""

    id: str
    check: str = Field(min_length=1)
    when: str = Field(min_length=1)
    why: str = Field(min_length=1)
    agent_classes: tuple[AgentClass, ...] = ()
    agents: tuple[str, ...] = ()
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus

    @model_validator(mode="after")
    def _names_what_it_applies_to(self) -> MonitoringItem:
        if not self.agent_classes and not self.agents:
            raise ValueError(f"monitoring item {self.id!r} names no agent class or agent")
        return self


class KnowledgeBase(_KB):
    version: str
    checksum: str
    sources: dict[str, Source]
    agents: dict[str, Agent]
    regimens: dict[str, Regimen]
    non_drug_options: dict[str, NonDrugOption]
    therapy_tables: tuple[TherapyTable, ...]
    rules: dict[str, Rule]
    contraindications: tuple[Contraindication, ...]
    therapy_categories: tuple[TherapyCategoryRule, ...]
    nonstandard_combinations: tuple[NonstandardCombination, ...]
    analytes: dict[str, Analyte]
    default_limits: tuple[DefaultLimit, ...]
    survival: tuple[SurvivalRow, ...]
    monitoring: tuple[MonitoringItem, ...] = ()
    guideline_positions: GuidelinePositions = Field(default_factory=GuidelinePositions)
    alias_index: dict[str, str] = Field(default_factory=dict)
    # Derived look-ups filled by the loader: assess() is a hot path.
    regimen_class_index: dict[str, frozenset[AgentClass]] = Field(default_factory=dict)
    contraindication_index: dict[str, frozenset[str]] = Field(default_factory=dict)
    #: Therapy tables as each view lists them ("all": merged, plus options only a
    #: guideline lists; "nccn"/"eau"/"esmo": that guideline's own listing).
    view_tables: dict[str, tuple[TherapyTable, ...]] = Field(default_factory=dict)
    #: table id -> option -> the three guidelines' positions.
    position_index: dict[str, dict[str, tuple[ResolvedPosition, ...]]] = Field(default_factory=dict)
    #: table id -> option -> plain-language statement where the guidelines disagree.
    disagreement_index: dict[str, dict[str, str]] = Field(default_factory=dict)
    #: view -> table id -> options with a position there that the view does not list.
    unlisted_index: dict[str, dict[str, tuple[str, ...]]] = Field(default_factory=dict)
    #: Every numeric rule parameter as a float, ``{rule id: {name: value}}``: ``param`` is
    #: called some 40 times per assessment.
    numbers: dict[str, dict[str, float]] = Field(default_factory=dict)

    def regimen_classes(self, option_id: str) -> frozenset[AgentClass]:
        """Drug classes in a regimen (empty for non-drug options)."""
        return self.regimen_class_index.get(option_id, frozenset())

    def regimens_affected_by(self, rule: Contraindication) -> frozenset[str]:
        """Regimen ids containing an agent the contraindication names by class or id."""
        return self.contraindication_index.get(rule.id, frozenset())

    def tables_for(self, view: str) -> tuple[TherapyTable, ...]:
        """The therapy tables as ``view`` lists them (the merged tables when not indexed)."""
        return self.view_tables.get(view, self.therapy_tables)

    def positions(self, table_id: str, option_id: str) -> tuple[ResolvedPosition, ...]:
        return self.position_index.get(table_id, {}).get(option_id, ())

    def guideline_name(self, body: str) -> str:
        for info in self.guideline_positions.bodies:
            if info.id == body:
                return info.name
        return body.upper()

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def param(self, rule_id: str, name: str) -> float:
        try:
            return self.numbers[rule_id][name]
        except KeyError:
            pass  # not indexed (a knowledge base built by hand) or not a number: say which
        value = self.rules[rule_id].parameters[name]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"parameter {rule_id}.{name} is not a number")
        return float(value)

    def option_ids(self) -> set[str]:
        return set(self.regimens) | set(self.non_drug_options)

    def agent_class(self, agent_id: str) -> AgentClass | None:
        agent = self.agents.get(agent_id)
        return agent.agent_class if agent else None

    def resolve_agent(self, name: str) -> str | None:
        """Map an INN, alias or brand name (any case) to the agent id."""
        key = name.strip().lower().replace(" ", "-")
        return self.alias_index.get(key)
