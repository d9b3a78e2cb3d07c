"""A synthetic FHIR Bulk Data export of metastatic RCC patients (demos, tests, benchmarks).

Every patient is invented: no record is derived from a real person. The figures the
generator draws from are published ones where a publication gives them:

- IMDC group shares and median overall survival from the start of first-line therapy:
  Heng et al., Lancet Oncol 2013 (external validation; clinical reference §1.3):
  favorable 157/849, intermediate 440/849, poor 252/849; median OS 43.2 / 22.5 / 7.8 months.
- Share of patients with incomplete IMDC data: 1 - 849/1028 (same paper: 849 of the
  1,028 patients had every factor recorded).
- Histology mix: clear cell 75-85%, papillary 10-15%, chromophobe 5-10% of RCC
  (Dudani et al., JAMA Netw Open 2021, introduction); the generator uses 80/10/5 and
  leaves the subtype unrecorded in the remaining 5%.

Where no publication gives a figure (how many factors an intermediate or poor patient
has, which factors, LDH, nephrectomy, second lines, regimen choice, follow-up) the
numbers below are generator settings, named as such; they shape the demo data and
carry no clinical claim. Survival is exponential within each IMDC group with the
published median; it depends on the drawn group only, so Kaplan-Meier medians by
group recovered from a large synthetic cohort can be checked against Heng 2013.

How death and follow-up are written (what ``cohort assess`` reads back):
``Patient.deceasedDateTime`` when the patient died before the data cut-off, and an
``Encounter`` (status finished) at the last contact otherwise.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

JSON = dict[str, Any]

# --- published figures (Heng 2013) ------------------------------------------------
GROUP_COUNTS = {"favorable": 157, "intermediate": 440, "poor": 252}
MEDIAN_OS_MONTHS = {"favorable": 43.2, "intermediate": 22.5, "poor": 7.8}
INCOMPLETE_SHARE = 1 - 849 / 1028
# --- histology (Dudani 2021 ranges; 5% left unrecorded) -----------------------------
HISTOLOGY_MIX = {"8310/3": 0.80, "8260/3": 0.10, "8317/3": 0.05, None: 0.05}
HISTOLOGY_TEXT = {
    "8310/3": "Clear cell renal cell carcinoma",
    "8260/3": "Papillary renal cell carcinoma",
    "8317/3": "Chromophobe renal cell carcinoma",
}
# --- generator settings (no clinical claim) ----------------------------------------
FACTORS = ("performance", "time", "hemoglobin", "calcium", "neutrophils", "platelets")
FACTOR_WEIGHTS = (0.9, 1.6, 1.7, 0.6, 0.5, 0.7)
INTERMEDIATE_COUNTS = {1: 0.55, 2: 0.45}
POOR_COUNTS = {3: 0.55, 4: 0.30, 5: 0.12, 6: 0.03}
HIGH_LDH = {"favorable": 0.05, "intermediate": 0.15, "poor": 0.35}
NEPHRECTOMY = {"favorable": 0.85, "intermediate": 0.7, "poor": 0.4}
ECOG_INSTEAD_OF_KPS = 0.2
SECOND_LINE = 0.45
UNUSABLE_SHARE = 0.01  # a record with no RCC diagnosis at all
DAYS_PER_MONTH = 365.25 / 12
FIRST_LINE_FROM = date(2018, 1, 1)
FIRST_LINE_DAYS = 7 * 365
DATA_CUTOFF = date(2026, 6, 30)
YEARLY_LOSS_TO_FOLLOW_UP = 0.05

CLEAR_CELL_FIRST_LINE = {
    "favorable": {
        ("axitinib", "pembrolizumab"): 0.40,
        ("cabozantinib", "nivolumab"): 0.20,
        ("lenvatinib", "pembrolizumab"): 0.20,
        ("sunitinib",): 0.12,
        ("ipilimumab", "nivolumab"): 0.08,
    },
    "other": {
        ("ipilimumab", "nivolumab"): 0.35,
        ("axitinib", "pembrolizumab"): 0.25,
        ("cabozantinib", "nivolumab"): 0.15,
        ("lenvatinib", "pembrolizumab"): 0.10,
        ("cabozantinib",): 0.10,
        ("sunitinib",): 0.05,
    },
}
NON_CLEAR_CELL_FIRST_LINE = {
    ("cabozantinib",): 0.5,
    ("lenvatinib", "pembrolizumab"): 0.3,
    ("sunitinib",): 0.2,
}
SECOND_LINE_AFTER_ICI = {
    ("cabozantinib",): 0.5,
    ("axitinib",): 0.2,
    ("everolimus", "lenvatinib"): 0.3,
}
SECOND_LINE_AFTER_TKI = {("nivolumab",): 0.5, ("cabozantinib",): 0.5}
CHECKPOINT = {"pembrolizumab", "nivolumab", "ipilimumab", "avelumab"}

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
CPT = "http://www.ama-assn.org/go/cpt"
HISTOLOGY_EXT = (
    "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior"
)
METASTASIS_SITES = (
    ("C78.00", "lung", 0.55),
    ("C79.51", "bone", 0.2),
    ("C78.7", "liver", 0.1),
    ("C77.2", "lymph node", 0.15),
)
RESOURCE_TYPES = (
    "Patient",
    "Condition",
    "Observation",
    "Procedure",
    "MedicationAdministration",
    "Encounter",
)


@dataclass(frozen=True)
class Truth:
    """What the generator drew for one patient (written beside the export for tests)."""

    patient_id: str
    imdc_group: str
    factors: int
    complete: bool
    usable: bool
    histology: str | None
    first_line: str
    first_line_start: date
    os_days: float
    died: bool
    follow_up_days: int


def _pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _weighted_sample(rng: random.Random, count: int) -> set[str]:
    names = list(FACTORS)
    weights = list(FACTOR_WEIGHTS)
    chosen: set[str] = set()
    for _ in range(count):
        name = rng.choices(names, weights=weights)[0]
        index = names.index(name)
        names.pop(index)
        weights.pop(index)
        chosen.add(name)
    return chosen


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _coding(system: str, code: str, display: str | None = None) -> JSON:
    coding: JSON = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _quantity(value: float, unit: str) -> JSON:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


class _Writer:
    """One patient's resources, each with a fresh id and the patient as subject."""

    def __init__(self, rng: random.Random, patient_id: str) -> None:
        self.rng = rng
        self.patient_id = patient_id
        self.subject = {"reference": f"Patient/{patient_id}"}
        self.out: list[JSON] = []

    def add(self, rtype: str, body: JSON) -> JSON:
        rid = self.patient_id if rtype == "Patient" else _uuid(self.rng)
        resource = {"resourceType": rtype, "id": rid, **body}
        if rtype != "Patient":
            resource["subject"] = self.subject
        self.out.append(resource)
        return resource

    def lab(self, loinc: str, value: float, unit: str, low: float, high: float, day: date) -> None:
        self.add(
            "Observation",
            {
                "status": "final",
                "category": [
                    _coding(
                        "http://terminology.hl7.org/CodeSystem/observation-category", "laboratory"
                    )
                ],
                "code": _coding(LOINC, loinc),
                "effectiveDateTime": day.isoformat(),
                "valueQuantity": _quantity(round(value, 1), unit),
                "referenceRange": [{"low": _quantity(low, unit), "high": _quantity(high, unit)}],
            },
        )


def _patient(rng: random.Random) -> tuple[list[JSON], Truth]:
    patient_id = _uuid(rng)
    w = _Writer(rng, patient_id)
    group = _pick(rng, {g: float(n) for g, n in GROUP_COUNTS.items()})
    count = {"favorable": 0}.get(group)
    if count is None:
        count = _pick(rng, INTERMEDIATE_COUNTS if group == "intermediate" else POOR_COUNTS)
    present = _weighted_sample(rng, count)
    female = rng.random() < 0.3
    first_line_start = FIRST_LINE_FROM + timedelta(days=rng.randrange(FIRST_LINE_DAYS))
    # Time factor: < 1 year from diagnosis to first-line start; keep clear of the boundary.
    gap = rng.randrange(20, 330) if "time" in present else rng.randrange(400, 2500)
    diagnosed = first_line_start - timedelta(days=gap)
    birth = diagnosed - timedelta(days=int(rng.uniform(45, 80) * 365.25))
    histology = _pick(rng, HISTOLOGY_MIX)
    usable = rng.random() >= UNUSABLE_SHARE

    patient: JSON = {"gender": "female" if female else "male", "birthDate": birth.isoformat()}
    patient = w.add("Patient", patient)
    primary_id = None
    if usable:
        body: JSON = {
            "clinicalStatus": _coding(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", "active"
            ),
            "code": _coding(ICD10CM, "C64.9", "Malignant neoplasm of unspecified kidney"),
            "onsetDateTime": diagnosed.isoformat(),
        }
        if histology is not None:
            body["extension"] = [
                {
                    "url": HISTOLOGY_EXT,
                    "valueCodeableConcept": {
                        **_coding(ICDO3, histology),
                        "text": HISTOLOGY_TEXT[histology],
                    },
                }
            ]
        primary_id = w.add("Condition", body)["id"]
    # Metastases: synchronous when the time factor is present, else found later.
    spread = (
        diagnosed
        if "time" in present
        else first_line_start - timedelta(days=rng.randrange(30, 200))
    )
    sites = {
        _pick(rng, {code: share for code, _n, share in METASTASIS_SITES})
        for _ in range(rng.choice((1, 1, 2, 3)))
    }
    for code in sorted(sites):
        meta: JSON = {"code": _coding(ICD10CM, code), "onsetDateTime": spread.isoformat()}
        if primary_id:
            meta["extension"] = [
                {
                    "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/"
                    "mcode-related-primary-cancer-condition",
                    "valueReference": {"reference": f"Condition/{primary_id}"},
                }
            ]
        w.add("Condition", meta)
    if rng.random() < NEPHRECTOMY[group]:
        when = diagnosed + timedelta(days=rng.randrange(5, 20))
        w.add(
            "Procedure",
            {
                "status": "completed",
                "code": {**_coding(CPT, "50230"), "text": "Radical nephrectomy"},
                "performedDateTime": min(when, spread).isoformat(),
            },
        )

    # Baseline measurements 2-20 days before the first-line start.
    baseline = first_line_start - timedelta(days=rng.randrange(2, 21))
    missing: set[str] = set()
    if rng.random() < INCOMPLETE_SHARE:
        candidates = [f for f in FACTORS if f != "time"]
        missing = set(rng.sample(candidates, rng.choice((1, 1, 2))))
    if "performance" not in missing:
        ecog = rng.random() < ECOG_INSTEAD_OF_KPS
        if ecog:
            loinc, score = "89247-1", (rng.choice((2, 3)) if "performance" in present else 0)
        else:
            loinc = "89243-0"
            choices = (50, 60, 70) if "performance" in present else (80, 90, 100)
            score = rng.choice(choices)
        w.add(
            "Observation",
            {
                "status": "final",
                "category": [
                    _coding("http://terminology.hl7.org/CodeSystem/observation-category", "survey")
                ],
                "code": _coding(LOINC, loinc),
                "effectiveDateTime": baseline.isoformat(),
                "valueInteger": score,
            },
        )
    hb_low, hb_high = (12.0, 15.5) if female else (13.5, 17.5)
    if "hemoglobin" not in missing:
        hb = (
            rng.uniform(hb_low - 3.5, hb_low - 0.3)
            if "hemoglobin" in present
            else rng.uniform(hb_low + 0.2, hb_high - 0.2)
        )
        w.lab("718-7", hb, "g/dL", hb_low, hb_high, baseline)
    if "calcium" not in missing:
        # Albumin 4.0 g/dL: the corrected calcium equals the measured one.
        calcium = rng.uniform(10.5, 12.5) if "calcium" in present else rng.uniform(8.8, 9.8)
        w.lab("17861-6", calcium, "mg/dL", 8.5, 10.2, baseline)
        w.lab("1751-7", 4.0, "g/dL", 3.5, 5.0, baseline)
    if "neutrophils" not in missing:
        anc = rng.uniform(8.0, 12.0) if "neutrophils" in present else rng.uniform(2.5, 7.0)
        w.lab("751-8", anc, "10*3/uL", 1.8, 7.7, baseline)
    if "platelets" not in missing:
        plt = rng.uniform(420, 650) if "platelets" in present else rng.uniform(170, 380)
        w.lab("777-3", plt, "10*3/uL", 150, 400, baseline)
    ldh = rng.uniform(360, 700) if rng.random() < HIGH_LDH[group] else rng.uniform(140, 220)
    w.lab("2532-0", ldh, "U/L", 135, 225, baseline)

    # Survival from first-line start, exponential with the published median.
    rate = math.log(2) / (MEDIAN_OS_MONTHS[group] * DAYS_PER_MONTH)
    os_days = rng.expovariate(rate)
    lost = rng.expovariate(-math.log(1 - YEARLY_LOSS_TO_FOLLOW_UP) / 365.25)
    horizon = (DATA_CUTOFF - first_line_start).days
    follow = min(os_days, lost, float(horizon))
    died = os_days <= min(lost, float(horizon))
    follow_days = max(1, int(follow))
    end = first_line_start + timedelta(days=follow_days)

    if histology == "8310/3" or histology is None:
        table = CLEAR_CELL_FIRST_LINE["favorable" if group == "favorable" else "other"]
    else:
        table = NON_CLEAR_CELL_FIRST_LINE
    regimen: tuple[str, ...] = _pick(rng, table)
    first_end = first_line_start + timedelta(days=int(follow_days * rng.uniform(0.3, 0.7)))
    second = rng.random() < SECOND_LINE and (end - first_end).days > 60
    for agent in regimen:
        course: JSON = {"start": first_line_start.isoformat()}
        if second or died:
            course["end"] = first_end.isoformat()
        w.add(
            "MedicationAdministration",
            {
                "status": "completed" if "end" in course else "in-progress",
                "medicationCodeableConcept": {"text": agent},
                "effectivePeriod": course,
            },
        )
    if second:
        after = SECOND_LINE_AFTER_ICI if CHECKPOINT & set(regimen) else SECOND_LINE_AFTER_TKI
        # A new line switches agents: an agent continued across lines reads as one line.
        after = {agents: w for agents, w in after.items() if not set(agents) & set(regimen)}
        start2 = first_end + timedelta(days=rng.randrange(7, 30))
        for agent in _pick(rng, after):
            w.add(
                "MedicationAdministration",
                {
                    "status": "in-progress" if not died else "completed",
                    "medicationCodeableConcept": {"text": agent},
                    "effectivePeriod": {
                        "start": start2.isoformat(),
                        **({"end": end.isoformat()} if died else {}),
                    },
                },
            )
    if died:
        patient["deceasedDateTime"] = end.isoformat()
    else:
        w.add(
            "Encounter",
            {
                "status": "finished",
                "class": {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                    "code": "AMB",
                },
                "period": {"start": end.isoformat(), "end": end.isoformat()},
            },
        )
    truth = Truth(
        patient_id=patient_id,
        imdc_group=group,
        factors=count,
        complete=not missing,
        usable=usable,
        histology=histology,
        first_line="+".join(sorted(regimen)),
        first_line_start=first_line_start,
        os_days=os_days,
        died=died,
        follow_up_days=follow_days,
    )
    return w.out, truth


def patients(count: int, seed: int) -> Iterator[tuple[list[JSON], Truth]]:
    """``count`` synthetic patients, the same for the same ``seed``."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _patient(rng)


def _shared_medication(resource: JSON, shared: dict[str, JSON]) -> JSON:
    """The administration naming its agent by ``medicationReference`` to a shared
    ``Medication`` (no patient), as exports that keep Medication as its own file do."""
    agent = resource["medicationCodeableConcept"]["text"]
    shared.setdefault(agent, {"resourceType": "Medication", "id": agent, "code": {"text": agent}})
    changed = {k: v for k, v in resource.items() if k != "medicationCodeableConcept"}
    return {**changed, "medicationReference": {"reference": f"Medication/{agent}"}}


def write_export(
    out: Path, count: int, seed: int, *, shared_medications: bool = False
) -> dict[str, int]:
    """Write ``count`` patients as NDJSON per resource type plus ``manifest.json``.

    The manifest has the shape a Bulk Data ``$export`` status response has
    (transactionTime, request, requiresAccessToken, output[type, url, count], error);
    ``url`` is the file name relative to the manifest. ``synth-truth.csv`` beside it
    holds what was drawn for each patient (not part of the export). With
    ``shared_medications`` the same patients are written, but each administration
    names its agent through ``medicationReference`` to one ``Medication`` per agent in
    ``Medication.ndjson``.
    """
    out.mkdir(parents=True, exist_ok=True)
    types = (*RESOURCE_TYPES, "Medication")
    files = {rtype: (out / f"{rtype}.ndjson").open("wb") for rtype in types}
    counts = dict.fromkeys(types, 0)
    shared: dict[str, JSON] = {}
    truth_file = (out / "synth-truth.csv").open("w", encoding="utf-8")
    truth_file.write(",".join(Truth.__dataclass_fields__) + "\n")
    try:
        for resources, truth in patients(count, seed):
            for resource in resources:
                rtype = resource["resourceType"]
                if shared_medications and rtype == "MedicationAdministration":
                    resource = _shared_medication(resource, shared)
                files[rtype].write(orjson.dumps(resource) + b"\n")
                counts[rtype] += 1
            truth_file.write(
                ",".join(_csv(getattr(truth, f)) for f in Truth.__dataclass_fields__) + "\n"
            )
        for medication in sorted(shared.values(), key=lambda m: str(m["id"])):
            files["Medication"].write(orjson.dumps(medication) + b"\n")
            counts["Medication"] += 1
    finally:
        for handle in files.values():
            handle.close()
        truth_file.close()
    manifest = {
        "transactionTime": datetime.now(UTC).isoformat(timespec="seconds"),
        "request": f"synthetic://rccnav/Patient/$export?patients={count}&seed={seed}",
        "requiresAccessToken": False,
        "output": [
            {"type": rtype, "url": f"{rtype}.ndjson", "count": n}
            for rtype, n in counts.items()
            if n
        ],
        "error": [],
    }
    (out / "manifest.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    for rtype, n in counts.items():
        if not n:
            (out / f"{rtype}.ndjson").unlink()
    return counts


def _csv(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)
