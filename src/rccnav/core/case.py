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
    # allow_inf_nan: a NaN or infinite limit would make a factor read as "absent" (unknown
    # read as normal); every entry point refuses it with the field named.
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


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
    # Neither most of the burden nor small relative to extrarenal disease.
    BALANCED = "balanced"


class ResultStatus(StrEnum):
    FINAL = "final"
    PRELIMINARY = "preliminary"


class RenalMethod(StrEnum):
    """How a kidney-function figure was obtained: dosing tables differ by method."""

    CKD_EPI_2021 = "ckd-epi-2021"
    CKD_EPI_2009 = "ckd-epi-2009"
    MDRD = "mdrd"
    COCKCROFT_GAULT = "cockcroft-gault"
    MEASURED = "measured"
    OTHER = "other"


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
    egfr: Measurement | None = Field(None, description="Estimated GFR, mL/min/1.73 m2")
    egfr_method: RenalMethod | None = Field(
        None, description="Equation the eGFR came from (unknown when not stated)"
    )
    creatinine: Measurement | None = None
    creatinine_clearance: Measurement | None = Field(
        None, description="Creatinine clearance in mL/min (not normalised to body surface)"
    )
    creatinine_clearance_method: RenalMethod | None = Field(
        None, description="Cockcroft-Gault (estimated) or a measured urine collection"
    )
    bilirubin_total: Measurement | None = None
    ast: Measurement | None = Field(None, description="Aspartate aminotransferase")
    alt: Measurement | None = Field(None, description="Alanine aminotransferase")


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


class Vitals(_Strict):
    """Body weight (for Cockcroft-Gault) and oxygenation (belzutifan, high-dose IL-2)."""

    weight: Measurement | None = Field(None, description="Body weight, UCUM kg")
    oxygen_saturation: Measurement | None = Field(
        None, description="SpO2 at rest, UCUM %, on room air unless supplemental_oxygen"
    )
    supplemental_oxygen: bool | None = Field(None, description="Needs supplemental oxygen at rest")
    source: str | None = None


class Diagnosis(_Strict):
    date: dt.date | None = Field(
        None, description="Date of the initial RCC diagnosis (not of metastasis)"
    )
    date_latest: dt.date | None = Field(
        None,
        description="Only when the record gives the diagnosis date as a month or a year: the "
        "last possible day (`date` is then the first). A factor that depends on the date is "
        "unknown when its answer differs within that interval.",
    )
    histology: Histology | None = None
    sarcomatoid: bool | None = None
    metastasis_date: dt.date | None = Field(
        None, description="Date metastatic disease was diagnosed"
    )
    metastasis_date_latest: dt.date | None = Field(
        None,
        description="Only when the record gives the metastasis date as a month or a year: "
        "the last possible day (`metastasis_date` is then the first).",
    )
    source: str | None = None

    @model_validator(mode="after")
    def _interval_is_ordered(self) -> Diagnosis:
        if self.date_latest is not None and (self.date is None or self.date_latest < self.date):
            raise ValueError("date_latest needs date (the first possible day) on or before it")
        last, first = self.metastasis_date_latest, self.metastasis_date
        if last is not None and (first is None or last < first):
            raise ValueError(
                "metastasis_date_latest needs metastasis_date (the first possible day) "
                "on or before it"
            )
        return self


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
    date_latest: dt.date | None = Field(
        None,
        description="Only when the record gives the date as a month or a year: the last "
        "possible day (`date` is then the first).",
    )
    resectable: bool | None = None
    painful: bool | None = None
    progressing: bool | None = None
    treated: bool | None = Field(
        None, description="Local therapy already given (e.g. SRS to brain)"
    )
    source: str | None = None

    @model_validator(mode="after")
    def _interval_is_ordered(self) -> Metastasis:
        if self.date_latest is not None and (self.date is None or self.date_latest < self.date):
            raise ValueError("date_latest needs date (the first possible day) on or before it")
        return self


class Disease(_Strict):
    metastases: tuple[Metastasis, ...] = ()
    metastases_recorded: bool | None = Field(
        None, description="True when the metastatic sites listed are the complete staging picture"
    )
    spinal_cord_compression: bool | None = None
    hypercalcaemia: bool | None = Field(
        None,
        description="Hypercalcaemia recorded as a diagnosis; its severity comes from "
        "labs.calcium_corrected / calcium_ionized",
    )
    pathological_fracture: bool | None = Field(
        None, description="A fracture through a (bone) metastasis has occurred"
    )
    impending_fracture: bool | None = Field(
        None,
        description="A bone metastasis judged at risk of fracture (e.g. Mirels score >= 9, "
        "cortical destruction)",
    )
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
    sources: dict[str, str] = Field(
        default_factory=dict,
        description="Where each flag above came from (field name -> record reference)",
    )


class PriorTherapy(_Strict):
    agents: tuple[str, ...] = Field(min_length=1)
    start: dt.date | None = None
    start_latest: dt.date | None = Field(
        None,
        description="Only when the record gives the start as a month or a year: the last "
        "possible day (`start` is then the first). A decision that depends on the start "
        "date is unknown where this interval straddles its threshold.",
    )
    end: dt.date | None = None
    end_latest: dt.date | None = Field(
        None,
        description="Only when the record gives the end as a month or a year: the last "
        "possible day (`end` is then the first).",
    )
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
        for name, first in (("start", self.start), ("end", self.end)):
            last = getattr(self, f"{name}_latest")
            if last is not None and (first is None or last < first):
                raise ValueError(
                    f"{name}_latest needs {name} (the first possible day) on or before it"
                )
        return self


class ProposedTherapy(_Strict):
    agents: tuple[str, ...] = Field(min_length=1)
    planned_start: dt.date | None = None
    source: str | None = None

    @field_validator("agents")
    @classmethod
    def _normalise_agents(cls, agents: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.strip().lower().replace(" ", "-") for a in agents)


class IrAEOrgan(StrEnum):
    """Organ of an immune-related adverse event (ASCO irAE guideline, Schneider 2021)."""

    MYOCARDITIS = "myocarditis"
    PNEUMONITIS = "pneumonitis"
    COLITIS = "colitis"
    HEPATITIS = "hepatitis"
    NEPHRITIS = "nephritis"
    SKIN = "skin"
    # Stevens-Johnson syndrome, toxic epidermal necrolysis, DRESS: stopped for good once
    # confirmed, whatever the grade (KEYTRUDA and OPDIVO labels; ASCO 2021 SCAR chapter).
    SEVERE_SKIN_REACTION = "severe-skin-reaction"
    ENDOCRINE = "endocrine"
    MYOSITIS = "myositis"
    MYASTHENIA_GRAVIS = "myasthenia-gravis"
    NEUROLOGICAL = "neurological"
    HAEMATOLOGICAL = "haematological"
    OCULAR = "ocular"
    ARTHRITIS = "arthritis"
    PANCREATITIS = "pancreatitis"
    OTHER = "other"


class CheckpointClass(StrEnum):
    PD_1 = "pd-1-inhibitor"
    PD_L1 = "pd-l1-inhibitor"
    CTLA_4 = "ctla-4-inhibitor"


class ImmuneAdverseEvent(_Strict):
    """One immune-related adverse event on a checkpoint inhibitor (any setting)."""

    agents: tuple[str, ...] = Field(
        (), description="Agents given when it occurred (INN); empty when not recorded"
    )
    agent_class: CheckpointClass | None = Field(None, description="When only the class is recorded")
    organ: IrAEOrgan
    grade: int | None = Field(None, ge=1, le=5, description="CTCAE grade; unknown if absent")
    date: dt.date | None = None
    source: str | None = None

    @field_validator("agents")
    @classmethod
    def _normalise_agents(cls, agents: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.strip().lower().replace(" ", "-") for a in agents)


class InfectionStatus(StrEnum):
    ACTIVE = "active"
    CONTROLLED = "controlled"
    PAST = "past"
    NONE = "none"


class Infections(_Strict):
    """Chronic infections checkpoint-inhibitor trials screened for; ``None`` is unknown.

    ``active``: untreated or uncontrolled (active tuberculosis; HBsAg-positive or HCV RNA
    detectable without suppressive treatment; HIV with detectable viral load or low CD4).
    ``controlled``: on treatment with suppressed viral load. ``past``: latent/treated TB,
    resolved HBV (anti-HBc positive, HBsAg negative), cured HCV. ``none``: tested negative.
    """

    tuberculosis: InfectionStatus | None = None
    hepatitis_b: InfectionStatus | None = None
    hepatitis_c: InfectionStatus | None = None
    hiv: InfectionStatus | None = None
    sources: dict[str, str] = Field(default_factory=dict)


class TransplantOrgan(StrEnum):
    KIDNEY = "kidney"
    HEART = "heart"
    LIVER = "liver"
    LUNG = "lung"
    PANCREAS = "pancreas"
    INTESTINE = "intestine"
    OTHER = "other"


class AutoimmuneDisease(StrEnum):
    MYASTHENIA_GRAVIS = "myasthenia-gravis"
    GUILLAIN_BARRE = "guillain-barre-syndrome"
    MULTIPLE_SCLEROSIS = "multiple-sclerosis"
    RHEUMATOID_ARTHRITIS = "rheumatoid-arthritis"
    PSORIATIC_ARTHRITIS = "psoriatic-arthritis"
    ANKYLOSING_SPONDYLITIS = "ankylosing-spondylitis"
    SYSTEMIC_LUPUS = "systemic-lupus-erythematosus"
    SJOGREN = "sjogren-syndrome"
    SYSTEMIC_SCLEROSIS = "systemic-sclerosis"
    VASCULITIS = "vasculitis"
    MYOSITIS = "myositis"
    SARCOIDOSIS = "sarcoidosis"
    CROHN = "crohn-disease"
    ULCERATIVE_COLITIS = "ulcerative-colitis"
    COELIAC = "coeliac-disease"
    AUTOIMMUNE_HEPATITIS = "autoimmune-hepatitis"
    TYPE_1_DIABETES = "type-1-diabetes"
    AUTOIMMUNE_THYROID = "autoimmune-thyroid-disease"
    ADRENAL = "autoimmune-adrenal-insufficiency"
    PSORIASIS = "psoriasis"
    VITILIGO = "vitiligo"
    OTHER = "other"


class AutoimmuneCondition(_Strict):
    disease: AutoimmuneDisease
    active: bool | None = Field(
        None,
        description="Active or needing systemic treatment (immunosuppression) in the past "
        "2 years; false = quiescent or on hormone replacement only",
    )
    source: str | None = None


class SickleStatus(StrEnum):
    DISEASE = "disease"
    TRAIT = "trait"
    NONE = "none"


class ChildPugh(StrEnum):
    A = "A"
    B = "B"
    C = "C"


_HEART_LIVER_LUNG = frozenset({TransplantOrgan.HEART, TransplantOrgan.LIVER, TransplantOrgan.LUNG})


class Comorbidities(_Strict):
    """Conditions that make a drug class unsafe or need review (reference §13).

    Lists are ``None`` when unknown and empty when known to be absent. The summary flags
    (``organ_transplant``, ``active_autoimmune_disease`` ...) stay usable on their own when
    a record says only that much; the detailed lists must not contradict them.
    """

    active_autoimmune_disease: bool | None = None
    autoimmune_diseases: tuple[AutoimmuneCondition, ...] | None = Field(
        None, description="Each autoimmune disease with whether it is active"
    )
    organ_transplant: bool | None = Field(None, description="Any solid-organ transplant")
    transplanted_organs: tuple[TransplantOrgan, ...] | None = Field(
        None, description="Solid organs transplanted; empty = none"
    )
    allogeneic_stem_cell_transplant: bool | None = None
    systemic_steroids_over_10mg: bool | None = Field(
        None, description="Systemic corticosteroids > 10 mg/day prednisone equivalent"
    )
    corticosteroid_prednisone_mg_per_day: float | None = Field(
        None,
        ge=0,
        le=2000,
        description="Current systemic corticosteroid dose as prednisone-equivalent mg/day "
        "(0 = none)",
    )
    corticosteroid_replacement_only: bool | None = Field(
        None, description="The corticosteroid is physiological replacement (adrenal insufficiency)"
    )
    other_immunosuppressants: tuple[str, ...] | None = Field(
        None,
        description="Current non-steroid immunosuppressants (e.g. tacrolimus, mycophenolate, "
        "infliximab); empty = none",
    )
    prior_severe_immune_related_adverse_event: bool | None = None
    immune_related_adverse_events: tuple[ImmuneAdverseEvent, ...] | None = Field(
        None, description="Prior immune-related adverse events; empty = none"
    )
    active_pneumonitis: bool | None = None
    uncontrolled_infection: bool | None = None
    infections: Infections = Infections()
    pregnancy: bool | None = None
    breastfeeding: bool | None = None
    uncontrolled_hypertension: bool | None = None
    recent_bleeding: bool | None = None
    recent_arterial_thromboembolism: bool | None = None
    gi_perforation_risk: bool | None = None
    qtc_prolongation: bool | None = None
    moderate_severe_hepatic_impairment: bool | None = None
    heart_failure: bool | None = None
    child_pugh: ChildPugh | None = Field(None, description="Child-Pugh class if assessed")
    cardiac_function_normal: bool | None = Field(
        None,
        description="Normal cardiac function on testing (e.g. LVEF, stress test), as required "
        "before high-dose IL-2",
    )
    pulmonary_function_normal: bool | None = Field(
        None, description="Normal pulmonary function tests, as required before high-dose IL-2"
    )
    sickle_cell: SickleStatus | None = Field(
        None, description="Sickle haemoglobin status (relevant in renal medullary carcinoma)"
    )
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _details_agree(self) -> Comorbidities:
        organs = self.transplanted_organs
        if organs is not None:
            if organs and self.organ_transplant is False:
                raise ValueError("transplanted_organs is listed but organ_transplant is false")
            if not organs and self.organ_transplant is True:
                raise ValueError("organ_transplant is true but transplanted_organs is empty")
        events = self.immune_related_adverse_events
        if (
            events
            and self.prior_severe_immune_related_adverse_event is False
            and any(e.grade is not None and e.grade >= 4 for e in events)
        ):
            raise ValueError(
                "prior_severe_immune_related_adverse_event is false but a grade 4-5 event is listed"
            )
        if events == () and self.prior_severe_immune_related_adverse_event is True:
            raise ValueError(
                "prior_severe_immune_related_adverse_event is true but "
                "immune_related_adverse_events is empty"
            )
        diseases = self.autoimmune_diseases
        if (
            diseases
            and self.active_autoimmune_disease is False
            and any(d.active is True for d in diseases)
        ):
            raise ValueError(
                "active_autoimmune_disease is false but an active autoimmune disease is listed"
            )
        dose = self.corticosteroid_prednisone_mg_per_day
        over = self.systemic_steroids_over_10mg
        if dose is not None and over is not None and (dose > 10) != over:
            raise ValueError(
                f"corticosteroid_prednisone_mg_per_day {dose:g} disagrees with "
                f"systemic_steroids_over_10mg {over}"
            )
        return self

    # Derived flags the knowledge base's contraindications refer to by name.
    @property
    def heart_liver_or_lung_transplant(self) -> bool | None:
        """True for a heart, liver or lung graft; None when a transplant's organ is unknown."""
        if self.transplanted_organs is not None:
            return bool(_HEART_LIVER_LUNG.intersection(self.transplanted_organs))
        return False if self.organ_transplant is False else None

    @property
    def kidney_or_other_transplant(self) -> bool | None:
        """A solid-organ graft other than heart, liver or lung (kidney, pancreas ...)."""
        if self.transplanted_organs is not None:
            return bool(set(self.transplanted_organs) - _HEART_LIVER_LUNG)
        return False if self.organ_transplant is False else None

    @property
    def steroids_over_10mg(self) -> bool | None:
        """Systemic corticosteroids above 10 mg/day prednisone equivalent (trial exclusion)."""
        if self.corticosteroid_prednisone_mg_per_day is not None:
            return self.corticosteroid_prednisone_mg_per_day > 10
        return self.systemic_steroids_over_10mg

    @property
    def active_chronic_infection(self) -> bool | None:
        """Active tuberculosis, hepatitis B or C, or HIV; None while any is unknown."""
        found = self.infections
        statuses = (found.tuberculosis, found.hepatitis_b, found.hepatitis_c, found.hiv)
        if InfectionStatus.ACTIVE in statuses:
            return True
        return None if None in statuses else False


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
    vitals: Vitals = Vitals()
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
