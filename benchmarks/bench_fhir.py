"""FHIR intake speed: parse + assess a patient Bundle, next to a fhir.resources parse.

Builds two synthetic one-patient Bundles in memory (no patient data involved):
typical (~200 resources: labs over two years, vitals, encounters, a nephrectomy,
nivolumab doses, a draft order) and large (~5,000 resources). For each it reports
p50/p99 of ``read_fhir`` + ``assess`` from bytes, and p50 of
``fhir.resources.R4B`` parsing the same bytes into models (parse only).
Targets (issue 3): typical p50 <= 2 ms, and >= 10x faster than the model parse.

Scaling (issue: large inputs linear): for 1,000 to 50,000 resources, ``read_fhir`` time
beside ``orjson.loads`` of the same bytes (the floor, same run), per-resource cost of
both, and the peak memory of the read beside the size of orjson's decoded tree
(``tracemalloc``). Targets: 50,000 resources within 10x the floor's time and 2x its
memory; time per resource flat as the input grows. The floor's own cost per resource
grows with the input (a larger tree leaves the CPU caches), so the time ratio to the
floor, flat across sizes, is the linearity figure; the per-resource growth of read and
floor is printed beside it.

Code look-ups: a comorbidity Condition, a Condition in no value set, a metastasis and a
haemoglobin Observation, each mapped on its own (µs per resource).

Run: ``.venv/bin/python benchmarks/bench_fhir.py [--quick]`` (prints figures; asserts
nothing).
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import orjson

from rccnav.adapters.fhir.reader import read_fhir
from rccnav.core.assess import assess
from rccnav.knowledge.loader import default_knowledge_base

ON = date(2026, 11, 1)
SUBJECT = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000001"}
LABS = [  # (LOINC, unit, value, low, high)
    ("718-7", "g/dL", 12.9, 13.5, 17.5),
    ("17861-6", "mg/dL", 9.6, 8.5, 10.2),
    ("1751-7", "g/dL", 3.9, 3.5, 5.0),
    ("751-8", "10*3/uL", 5.1, 1.8, 7.7),
    ("777-3", "10*3/uL", 310.0, 150.0, 400.0),
    ("2532-0", "U/L", 210.0, 125.0, 250.0),
    ("2160-0", "mg/dL", 1.1, 0.7, 1.3),
    ("62238-1", "mL/min/{1.73_m2}", 68.0, 60.0, 120.0),
]
VITALS = [("8867-4", "/min", 72.0), ("8480-6", "mm[Hg]", 128.0), ("29463-7", "kg", 81.0)]


class _Ids:
    def __init__(self) -> None:
        self.n = 1

    def __call__(self) -> str:
        self.n += 1
        return f"00000000-0000-4000-8000-{self.n:012d}"


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}


def _observation(
    uid: str, code: str, unit: str, value: float, day: date, ref: tuple[float, float] | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": uid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": SUBJECT,
        "effectiveDateTime": f"{day.isoformat()}T08:00:00Z",
        "valueQuantity": _quantity(value, unit),
    }
    if ref:
        resource["referenceRange"] = [
            {"low": _quantity(ref[0], unit), "high": _quantity(ref[1], unit)}
        ]
    return resource


def build_bundle(target: int) -> bytes:
    """A one-patient collection Bundle with about ``target`` resources."""
    new_id = _Ids()
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": SUBJECT["reference"][9:],
            "gender": "male",
            "birthDate": "1958-02-11",
        },
        {
            "resourceType": "Condition",
            "id": new_id(),
            "extension": [
                {
                    "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior",
                    "valueCodeableConcept": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/icd-o-3",
                                "code": "8310/3",
                            }
                        ]
                    },
                }
            ],
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C64.1"}]},
            "subject": SUBJECT,
            "onsetDateTime": "2024-01-10",
        },
        {
            "resourceType": "Condition",
            "id": new_id(),
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "C78.01"}]},
            "subject": SUBJECT,
            "onsetDateTime": "2025-12-01",
        },
        {
            "resourceType": "Procedure",
            "id": new_id(),
            "status": "completed",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "50545"}]},
            "subject": SUBJECT,
            "performedDateTime": "2024-02-01",
        },
        {
            "resourceType": "MedicationRequest",
            "id": new_id(),
            "status": "draft",
            "intent": "proposal",
            "medicationCodeableConcept": {"text": "cabozantinib 40 MG Oral Tablet"},
            "subject": SUBJECT,
            "authoredOn": "2026-10-28",
        },
    ]
    day = ON
    while len(resources) < target:
        for code, unit, value, low, high in LABS:
            resources.append(_observation(new_id(), code, unit, value, day, (low, high)))
        for code, unit, value in VITALS:
            resources.append(_observation(new_id(), code, unit, value, day, None))
        resources.append(
            {
                "resourceType": "Encounter",
                "id": new_id(),
                "status": "finished",
                "class": {"code": "AMB"},
                "subject": SUBJECT,
                "period": {"start": day.isoformat()},
            }
        )
        if day < date(2026, 6, 1):
            resources.append(
                {
                    "resourceType": "MedicationAdministration",
                    "id": new_id(),
                    "status": "completed",
                    "medicationCodeableConcept": {
                        "coding": [
                            {
                                "system": "http://www.whocc.no/atc",
                                "code": "L01FF01",
                                "display": "nivolumab",
                            }
                        ]
                    },
                    "subject": SUBJECT,
                    "effectiveDateTime": day.isoformat(),
                }
            )
        day -= timedelta(days=14)
    entries = [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources[:target]]
    return orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})


def _times(action: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return sorted(samples)


def _p(samples: list[float], q: float) -> float:
    return samples[min(len(samples) - 1, round(q * (len(samples) - 1)))]


def run(label: str, size: int, runs: int, model_runs: int) -> None:
    from fhir.resources.R4B.bundle import Bundle

    kb = default_knowledge_base()
    data = build_bundle(size)

    def ours() -> None:
        intake = read_fhir(data, name="bench", on=ON, lookback_days=None, kb=kb)
        assess(intake.case, kb, ON)

    ours()  # warm caches (unit parser, terminology, knowledge base)
    fast = _times(ours, runs)
    model = _times(lambda: Bundle.model_validate_json(data), model_runs)
    ratio = statistics.median(model) / statistics.median(fast)
    print(
        f"{label:8} {size:5d} resources {len(data) / 1024:7.0f} KiB | rccnav parse+assess "
        f"p50 {_p(fast, 0.5):7.2f} ms  p99 {_p(fast, 0.99):7.2f} ms | fhir.resources R4B parse "
        f"p50 {_p(model, 0.5):8.1f} ms | {ratio:5.1f}x faster"
    )


def _traced_peak(action: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = action()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def scaling(sizes: tuple[int, ...], runs: int) -> None:
    kb = default_knowledge_base()
    print(
        "size      read p50   orjson.loads p50  ratio | us/resource read  floor | "
        "read peak  tree  ratio"
    )
    first: tuple[float, float] | None = None
    for size in sizes:
        data = build_bundle(size)
        # The floor decodes with the cyclic GC paused, as the reader does: otherwise the
        # collector's passes over the growing tree would inflate the floor, not the read.
        gc.disable()
        try:
            floor = _times(lambda: orjson.loads(data), runs)  # noqa: B023
        finally:
            gc.enable()
        read = _times(
            lambda: read_fhir(data, name="bench", on=ON, lookback_days=None, kb=kb),  # noqa: B023
            runs,
        )
        tree, tree_bytes = _traced_peak(lambda: orjson.loads(data))  # noqa: B023
        del tree
        _, read_peak = _traced_peak(
            lambda: read_fhir(data, name="bench", on=ON, lookback_days=None, kb=kb)  # noqa: B023
        )
        time_ratio = _p(read, 0.5) / _p(floor, 0.5)
        per_read, per_floor = _p(read, 0.5) * 1000 / size, _p(floor, 0.5) * 1000 / size
        first = first or (per_read, per_floor)
        print(
            f"{size:6d} {_p(read, 0.5):9.1f} ms {_p(floor, 0.5):11.1f} ms {time_ratio:8.1f}x | "
            f"{per_read:8.1f} {per_floor:10.1f}  | {read_peak / 2**20:6.1f} MiB "
            f"{tree_bytes / 2**20:5.1f} MiB {read_peak / tree_bytes:4.1f}x"
        )
    if first and len(sizes) > 1:
        print(
            f"per-resource growth {sizes[0]:,} -> {sizes[-1]:,}: read "
            f"{per_read / first[0]:.2f}x, floor {per_floor / first[1]:.2f}x"
        )


def code_lookups(runs: int) -> None:
    """µs per resource to map one Condition / Observation (the terminology index at work)."""
    from rccnav.adapters.fhir.bundle import Entry, ResourceIndex
    from rccnav.adapters.fhir.conditions import ConditionFindings, read_condition
    from rccnav.adapters.fhir.context import ReadContext
    from rccnav.adapters.fhir.observations import ObservationFindings, read_observation
    from rccnav.knowledge.terminology import default_terminology

    kb, term = default_knowledge_base(), default_terminology()
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    resources = {
        "Condition, heart failure (I50.9)": {
            "code": {"coding": [{"system": icd, "code": "I50.9"}]}
        },
        "Condition in no value set (E11.9)": {
            "code": {"coding": [{"system": icd, "code": "E11.9"}]}
        },
        "Condition, lung metastasis (C78.01)": {
            "code": {"coding": [{"system": icd, "code": "C78.01"}]}
        },
    }
    print("\nmapping one resource                   us")
    for label, extra in resources.items():
        resource = {
            "resourceType": "Condition",
            "id": "c",
            "subject": SUBJECT,
            "onsetDateTime": "2025-12-01",
            **extra,
        }
        ctx = ReadContext(ResourceIndex(kind="bench"), term, kb, ON, 90)
        entry = Entry(resource, "Condition", "Condition/c", "1", None)
        samples = _times(lambda: read_condition(entry, ctx, ConditionFindings()), runs)  # noqa: B023
        print(f"{label:38} {_p(samples, 0.5) * 1000:5.1f}")
    lab = _observation("o", "718-7", "g/dL", 12.9, ON, (13.5, 17.5))
    ctx = ReadContext(ResourceIndex(kind="bench"), term, kb, ON, 90)
    entry = Entry(lab, "Observation", "Observation/o", "1", None)
    samples = _times(lambda: read_observation(entry, ctx, ObservationFindings()), runs)
    print(f"{'Observation, haemoglobin':38} {_p(samples, 0.5) * 1000:5.1f}")


def main() -> None:
    quick = "--quick" in sys.argv
    run("typical", 200, runs=100 if quick else 500, model_runs=10 if quick else 30)
    run("large", 5000, runs=10 if quick else 50, model_runs=2 if quick else 5)
    print()
    scaling((1000, 10000, 50000), runs=3 if quick else 7)
    code_lookups(runs=2000 if quick else 20000)


if __name__ == "__main__":
    main()
