"""The Case: what is known about one patient with metastatic RCC.

A missing value (``None``) always means *unknown*; nothing here defaults to
normal. Every fact can name where it came from (``source``: a case-file field
or a FHIR ``Type/id``) so a reviewer can trace each risk factor to its record.

The model is strict (``extra="forbid"``) because a typo in a case file must not
pass silently as an unknown item.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Sex(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"


class Histology(StrEnum):
    CLEAR_CELL = "clear-cell"
    PAPILLARY = "papillary"
    CHROMOPHOBE = "chromophobe"
    COLLECTING_DUCT = "collecting-duct"
    MEDULLARY = "medullary"
    TRANSLOCATION = "translocation"
    FH_DEFICIENT = "fh-deficient"
    SDH_DEFICIENT = "sdh-deficient"
    UNCLASSIFIED = "unclassified"
    OTHER = "other"


class Gene(StrEnum):
    """Germline genes whose pathogenic variants change RCC management (PDQ genetics [65])."""

    VHL = "VHL"
    FH = "FH"
    FLCN = "FLCN"
    MET = "MET"
    SDHB = "SDHB"
    SDHC = "SDHC"
    SDHD = "SDHD"
    BAP1 = "BAP1"
    TSC1 = "TSC1"
    TSC2 = "TSC2"
    PTEN = "PTEN"
    MITF = "MITF"


class Site(StrEnum):
    LUNG = "lung"
    LYMPH_NODE = "lymph-node"
    BONE = "bone"
    LIVER = "liver"
    BRAIN = "brain"
    ADRENAL = "adrenal"
    PANCREAS = "pancreas"
    THYROID = "thyroid"
    SOFT_TISSUE = "soft-tissue"
    PLEURA = "pleura"
    PERITONEUM = "peritoneum"
    CONTRALATERAL_KIDNEY = "contralateral-kidney"
    OTHER = "other"


class Response(StrEnum):
    COMPLETE = "complete-response"
    PARTIAL = "partial-response"
    STABLE = "stable-disease"
    PROGRESSION = "progressive-disease"


class StopReason(StrEnum):
    PROGRESSION = "progression"
    TOXICITY = "toxicity"
    COMPLETED = "completed"
    PATIENT_CHOICE = "patient-choice"
    OTHER = "other"


class TherapySetting(StrEnum):
    METASTATIC = "metastatic"
    ADJUVANT = "adjuvant"


class RenalShare(StrEnum):
    """Share of total tumour burden that lies in the kidney (KCRNC [69])."""

    HIGH = "high"
    LOW = "low"


class ResultStatus(StrEnum):
    FINAL = "final"
    PRELIMINARY = "preliminary"


class Measurement(_Strict):
    """A laboratory result as reported: value, UCUM unit, the lab's own range."""

    value: float
    unit: str = Field(min_length=1, description="UCUM unit code, e.g. g/dL, mmol/L, 10*9/L")
    date: dt.date | None = None
    low: float | None = Field(None, description="Lab lower limit of normal, in `unit`")
    high: float | None = Field(None, description="Lab upper limit of normal, in `unit`")
    status: ResultStatus = ResultStatus.FINAL
    source: str | None = None

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Measurement:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"reference range low {self.low} is above high {self.high}")
        return self


class Labs(_Strict):
    hemoglobin: Measurement | None = None
    calcium_total: Measurement | None = None
    calcium_corrected: Measurement | None = None
    calcium_ionized: Measurement | None = None
    albumin: Measurement | None = None
    neutrophils: Measurement | None = None
    platelets: Measurement | None = None
    ldh: Measurement | None = None
    egfr: Measurement | None = None
    creatinine: Measurement | None = None


class PerformanceStatus(_Strict):
    """KPS or ECOG as recorded; both may be present."""

    kps: int | None = Field(None, ge=0, le=100)
    ecog: int | None = Field(None, ge=0, le=5)
    date: dt.date | None = None
    source: str | None = None

    @field_validator("kps")
    @classmethod
    def _kps_in_tens(cls, value: int | None) -> int | None:
        # The Karnofsky scale has 11 steps of 10 (Karnofsky 1949 [11]).
        if value is not None and value % 10 != 0:
            raise ValueError(f"KPS must be a multiple of 10, got {value}")
        return value


class Diagnosis(_Strict):
    date: dt.date | None = Field(
        None, description="Date of the initial RCC diagnosis (not of metastasis)"
    )
    histology: Histology | None = None
    sarcomatoid: bool | None = None
    metastasis_date: dt.date | None = Field(
        None, description="Date metastatic disease was diagnosed"
    )
    source: str | None = None


class Germline(_Strict):
    tested: bool | None = None
    pathogenic_variants: tuple[Gene, ...] = ()
    family_history_of_rcc: bool | None = None
    bilateral_or_multifocal: bool | None = None
    source: str | None = None


class PrimaryTumour(_Strict):
    in_place: bool | None = Field(None, description="Primary kidney tumour still present")
    nephrectomy_date: dt.date | None = None
    resectable: bool | None = None
    bleeding: bool | None = Field(
        None, description="Symptomatic haematuria/bleeding from the primary"
    )
    pain: bool | None = Field(None, description="Pain attributed to the primary")
    paraneoplastic_syndrome: bool | None = None
    renal_share_of_burden: RenalShare | None = None
    contralateral_kidney_normal: bool | None = None
    source: str | None = None

    @model_validator(mode="after")
    def _nephrectomy_consistent(self) -> PrimaryTumour:
        if self.in_place is True and self.nephrectomy_date is not None:
            raise ValueError("in_place is true but a nephrectomy_date is given")
        return self

    @property
    def removed(self) -> bool | None:
        if self.nephrectomy_date is not None:
            return True
        return None if self.in_place is None else not self.in_place


class Metastasis(_Strict):
    site: Site
    lesions: int | None = Field(None, ge=0)
    date: dt.date | None = None
    resectable: bool | None = None
    painful: bool | None = None
    progressing: bool | None = None
    treated: bool | None = Field(
        None, description="Local therapy already given (e.g. SRS to brain)"
    )
    source: str | None = None


class Disease(_Strict):
    metastases: tuple[Metastasis, ...] = ()
    metastases_recorded: bool | None = Field(
        None, description="True when the metastatic sites listed are the complete staging picture"
    )
    spinal_cord_compression: bool | None = None
    symptomatic_metastases: bool | None = None
    rapidly_progressing: bool | None = None
    all_sites_treatable_locally: bool | None = Field(
        None, description="Clinician judges every site resectable or ablatable by radiotherapy"
    )
    no_evidence_of_disease: bool | None = Field(
        None, description="NED after complete resection/ablation of all metastatic sites"
    )
    complete_resection_date: dt.date | None = None
    oligoprogression: bool | None = None


class PriorTherapy(_Strict):
    agents: tuple[str, ...] = Field(min_length=1)
    start: dt.date | None = None
    end: dt.date | None = None
    setting: TherapySetting = TherapySetting.METASTATIC
    best_response: Response | None = None
    stop_reason: StopReason | None = None
    source: str | None = None

    @field_validator("agents")
    @classmethod
    def _normalise_agents(cls, agents: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.strip().lower().replace(" ", "-") for a in agents)

    @model_validator(mode="after")
    def _ordered(self) -> PriorTherapy:
        if self.start and self.end and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class ProposedTherapy(_Strict):
    agents: tuple[str, ...] = Field(min_length=1)
    planned_start: dt.date | None = None
    source: str | None = None

    @field_validator("agents")
    @classmethod
    def _normalise_agents(cls, agents: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.strip().lower().replace(" ", "-") for a in agents)


class Comorbidities(_Strict):
    """Conditions that make a drug class unsafe or need review (reference §13)."""

    active_autoimmune_disease: bool | None = None
    organ_transplant: bool | None = None
    allogeneic_stem_cell_transplant: bool | None = None
    systemic_steroids_over_10mg: bool | None = Field(
        None, description="Systemic corticosteroids > 10 mg/day prednisone equivalent"
    )
    prior_severe_immune_related_adverse_event: bool | None = None
    active_pneumonitis: bool | None = None
    uncontrolled_infection: bool | None = None
    pregnancy: bool | None = None
    uncontrolled_hypertension: bool | None = None
    recent_bleeding: bool | None = None
    recent_arterial_thromboembolism: bool | None = None
    gi_perforation_risk: bool | None = None
    qtc_prolongation: bool | None = None
    moderate_severe_hepatic_impairment: bool | None = None
    heart_failure: bool | None = None
    sources: dict[str, str] = Field(default_factory=dict)


Agents = Annotated[tuple[str, ...], Field(min_length=1)]


class Case(_Strict):
    """Everything rccnav knows about one patient. ``None`` means unknown."""

    case_id: str | None = Field(
        None, description="Opaque local identifier; never a patient identifier"
    )
    sex: Sex | None = None
    birth_date: dt.date | None = None
    diagnosis: Diagnosis = Diagnosis()
    germline: Germline = Germline()
    performance: PerformanceStatus | None = None
    labs: Labs = Labs()
    primary_tumour: PrimaryTumour = PrimaryTumour()
    disease: Disease = Disease()
    prior_therapies: tuple[PriorTherapy, ...] = ()
    proposed_therapy: ProposedTherapy | None = None
    comorbidities: Comorbidities = Comorbidities()
    assessment_date: dt.date | None = Field(
        None, description="Date to assess on; the CLI's --on overrides it"
    )

    @property
    def metastatic_prior_therapies(self) -> tuple[PriorTherapy, ...]:
        return tuple(t for t in self.prior_therapies if t.setting is TherapySetting.METASTATIC)
