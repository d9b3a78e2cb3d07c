"""Latency, throughput, memory and cold start of ``rccnav.assess()``.

Run: ``python benchmarks/bench_assess.py`` (options: ``--calls``, ``--warmup``, ``--profile``).

Measures, for a complete case and an incomplete case (several unknowns):

- per-call latency with ``time.perf_counter_ns`` over ``--calls`` calls after ``--warmup``
  calls (p50, p90, p99, max), interleaved call by call with a **floor**: the same case scored
  by a hand-written IMDC + MSKCC (the seven factors from the lab's own limits, each with a
  one-line explanation) and a first-line table look-up. The floor is what any explained
  risk score costs in Python on this machine at this moment; on a shared machine the ratio
  to it is the figure that counts;
- throughput (cases/s) from a separate batched loop without per-call timers;
- what the memo cannot fake (``assess()`` keeps the options and safety warnings under a
  key of everything they read, so a repeated case is partly answered from memory):
  (i) **distinct patients**, ``--patients`` synthetic patients (``rccnav cohort synth``,
  read once up front, assessed the day before their first line starts or at the data
  cut-off), each assessed once, timed call by call beside the floor of the same patient;
  (ii) the two example cases with every **patient memo cleared before each call**;
- peak traced memory of one call, and memory retained after ``--memory-calls`` more calls
  (``tracemalloc``; a leak check);
- cold start: a fresh interpreter importing rccnav, loading the knowledge base and making
  the first call (which builds the UCUM registry), measured in a subprocess.

A benchmark, not a test: it reports, it never asserts (DESIGN.md: benchmarks live in
``benchmarks/``, never as timed assertions). Target (issue: fast from the first call):
p50 <= 100 us and p99 <= 300 us on both cases.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import gc
import json
import os
import platform
import pstats
import subprocess
import sys
import time
import tracemalloc
from typing import Any

TARGET_P50_US = 100.0
TARGET_P99_US = 300.0
ON = dt.date(2026, 11, 1)

# Synthetic patients (no real data). Complete: every IMDC/MSKCC item known, staging complete,
# comorbidities recorded, a proposed regimen to check.
COMPLETE: dict[str, Any] = {
    "case_id": "bench-complete",
    "sex": "male",
    "birth_date": "1960-02-14",
    "diagnosis": {
        "date": "2026-07-08",
        "histology": "clear-cell",
        "sarcomatoid": False,
        "metastasis_date": "2026-07-08",
    },
    "germline": {"tested": False, "family_history_of_rcc": False, "bilateral_or_multifocal": False},
    "performance": {"kps": 80, "date": "2026-10-28"},
    "labs": {
        "hemoglobin": {
            "value": 12.1,
            "unit": "g/dL",
            "low": 13.5,
            "high": 17.5,
            "date": "2026-10-28",
        },
        "calcium_total": {
            "value": 2.41,
            "unit": "mmol/L",
            "low": 2.15,
            "high": 2.55,
            "date": "2026-10-28",
        },
        "albumin": {"value": 38, "unit": "g/L", "low": 35, "high": 50, "date": "2026-10-28"},
        "neutrophils": {
            "value": 5.1,
            "unit": "10*9/L",
            "low": 1.8,
            "high": 7.5,
            "date": "2026-10-28",
        },
        "platelets": {
            "value": 310,
            "unit": "10*3/uL",
            "low": 150,
            "high": 400,
            "date": "2026-10-28",
        },
        "ldh": {"value": 210, "unit": "U/L", "low": 125, "high": 250, "date": "2026-10-28"},
        "egfr": {"value": 64, "unit": "mL/min", "date": "2026-10-28"},
    },
    "primary_tumour": {
        "in_place": True,
        "resectable": True,
        "bleeding": False,
        "pain": False,
        "paraneoplastic_syndrome": False,
        "renal_share_of_burden": "high",
        "contralateral_kidney_normal": True,
    },
    "disease": {
        "metastases_recorded": True,
        "metastases": [
            {"site": "lung", "lesions": 4, "date": "2026-07-08", "resectable": False},
            {"site": "bone", "lesions": 1, "date": "2026-07-08", "painful": True},
        ],
        "spinal_cord_compression": False,
        "symptomatic_metastases": False,
        "rapidly_progressing": False,
        "all_sites_treatable_locally": False,
    },
    "proposed_therapy": {"agents": ["nivolumab", "cabozantinib"], "planned_start": "2026-11-10"},
    "comorbidities": {
        "active_autoimmune_disease": False,
        "organ_transplant": False,
        "allogeneic_stem_cell_transplant": False,
        "systemic_steroids_over_10mg": False,
        "prior_severe_immune_related_adverse_event": False,
        "active_pneumonitis": False,
        "uncontrolled_infection": False,
        "pregnancy": False,
        "uncontrolled_hypertension": False,
        "recent_bleeding": False,
        "recent_arterial_thromboembolism": False,
        "gi_perforation_risk": False,
        "qtc_prolongation": False,
        "moderate_severe_hepatic_impairment": False,
        "heart_failure": False,
    },
}

# Incomplete: ECOG 1 only, no calcium, a stale hemoglobin, platelets without a range and sex
# unknown, histology unknown, staging incomplete, comorbidities unrecorded.
INCOMPLETE: dict[str, Any] = {
    "case_id": "bench-incomplete",
    "diagnosis": {"date": "2025-12-01"},
    "performance": {"ecog": 1},
    "labs": {
        "hemoglobin": {
            "value": 11.9,
            "unit": "g/dL",
            "low": 12.0,
            "high": 15.5,
            "date": "2026-08-01",
        },
        "neutrophils": {"value": 6.2, "unit": "10*9/L", "date": "2026-10-20"},
        "platelets": {"value": 420, "unit": "10*9/L", "date": "2026-10-20"},
    },
    "primary_tumour": {"in_place": True},
    "disease": {"metastases": [{"site": "lung"}, {"site": "liver", "lesions": 2}]},
    "prior_therapies": [
        {"agents": ["sunitinib"], "start": "2026-01-10", "stop_reason": "progression"}
    ],
    "proposed_therapy": {"agents": ["ipilimumab", "cabozantinib"]},
}


def _percentile(sorted_values: list[int], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return float(sorted_values[index])


# The floor's first-line table: regimen ids by IMDC group (clear cell), as a look-up.
_FLOOR_TABLE = {
    "favorable": ("axitinib+pembrolizumab", "cabozantinib+nivolumab", "lenvatinib+pembrolizumab"),
    "intermediate": (
        "axitinib+pembrolizumab",
        "cabozantinib+nivolumab",
        "ipilimumab+nivolumab",
        "lenvatinib+pembrolizumab",
    ),
    "poor": (
        "axitinib+pembrolizumab",
        "cabozantinib+nivolumab",
        "ipilimumab+nivolumab",
        "lenvatinib+pembrolizumab",
    ),
}
_FLOOR_GROUPS = ("favorable", "intermediate", "intermediate", "poor")


def _floor_factor(name: str, m: Any, above: bool, multiple: float = 1.0) -> tuple[str, str, str]:
    """One lab factor from the lab's own limit, with its explanation (unknown if either is)."""
    if m is None:
        return name, "unknown", f"no {name} result"
    limit = m.high if above else m.low
    if limit is None:
        return name, "unknown", f"{m.value:g} {m.unit}, no limit known"
    limit *= multiple
    present = m.value > limit if above else m.value < limit
    word = ("above" if present else "not above") if above else ("below" if present else "not below")
    return name, "present" if present else "absent", f"{m.value:g} {m.unit} is {word} {limit:g}"


def floor(case: Any, on: dt.date) -> tuple[Any, ...]:
    """Hand-written, explained IMDC and MSKCC with a table look-up: the same-run floor.

    Deliberately minimal (lab limits only, no unit conversion, no data checks, no
    decisions): the least work an explained risk score does in Python.
    """
    labs, ps, diagnosed = case.labs, case.performance, case.diagnosis.date
    if ps is not None and ps.kps is not None:
        kps = ("performance_status", "present" if ps.kps < 80 else "absent", f"KPS {ps.kps}")
    else:
        kps = ("performance_status", "unknown", "KPS not recorded")
    if diagnosed is None:
        timing = ("time_to_treatment", "unknown", "diagnosis date unknown")
    else:
        days = (on - diagnosed).days
        timing = ("time_to_treatment", "present" if days < 365 else "absent", f"{days} days")
    shared = (kps, timing, _floor_factor("hemoglobin", labs.hemoglobin, above=False))
    imdc = (
        *shared,
        _floor_factor("calcium", labs.calcium_corrected or labs.calcium_total, above=True),
        _floor_factor("neutrophils", labs.neutrophils, above=True),
        _floor_factor("platelets", labs.platelets, above=True),
    )
    mskcc = (*shared, _floor_factor("ldh", labs.ldh, above=True, multiple=1.5))
    out: list[Any] = []
    for factors in (imdc, mskcc):
        present = sum(1 for f in factors if f[1] == "present")
        unknown = sum(1 for f in factors if f[1] == "unknown")
        groups = sorted({_FLOOR_GROUPS[min(c, 3)] for c in range(present, present + unknown + 1)})
        out.append((factors, groups, _FLOOR_TABLE[groups[-1]]))
    return tuple(out)


def _latency(case: Any, kb: Any, calls: int, warmup: int) -> dict[str, float]:
    from rccnav import assess

    for _ in range(warmup):
        assess(case, kb, ON)
        floor(case, ON)
    clock = time.perf_counter_ns
    samples = [0] * calls
    floors = [0] * calls
    for i in range(calls):  # interleaved, so that load on the machine hits both alike
        start = clock()
        assess(case, kb, ON)
        middle = clock()
        floor(case, ON)
        floors[i] = clock() - middle
        samples[i] = middle - start
    samples.sort()
    floors.sort()
    batch_start = clock()
    for _ in range(calls):
        assess(case, kb, ON)
    batch_ns = clock() - batch_start
    return {
        "p50_us": _percentile(samples, 0.50) / 1e3,
        "p90_us": _percentile(samples, 0.90) / 1e3,
        "p99_us": _percentile(samples, 0.99) / 1e3,
        "max_us": samples[-1] / 1e3,
        "mean_us": sum(samples) / len(samples) / 1e3,
        "throughput_per_s": calls / (batch_ns / 1e9),
        "floor_p50_us": _percentile(floors, 0.50) / 1e3,
        "floor_p99_us": _percentile(floors, 0.99) / 1e3,
    }


def _cleared(case: Any, kb: Any, calls: int, warmup: int) -> dict[str, float]:
    """The case with every patient memo cleared before each call (clearing not timed)."""
    from rccnav import assess
    from rccnav.core.memo import clear_patient_memos

    for _ in range(warmup):
        clear_patient_memos()
        assess(case, kb, ON)
    clock = time.perf_counter_ns
    samples = [0] * calls
    floors = [0] * calls
    for i in range(calls):
        clear_patient_memos()
        start = clock()
        assess(case, kb, ON)
        middle = clock()
        floor(case, ON)
        floors[i] = clock() - middle
        samples[i] = middle - start
    return _summary(samples, floors)


def _summary(samples: list[int], floors: list[int]) -> dict[str, float]:
    samples.sort()
    floors.sort()
    return {
        "p50_us": _percentile(samples, 0.50) / 1e3,
        "p99_us": _percentile(samples, 0.99) / 1e3,
        "floor_p50_us": _percentile(floors, 0.50) / 1e3,
        "floor_p99_us": _percentile(floors, 0.99) / 1e3,
    }


def synthetic_patients(count: int, seed: int = 9) -> list[tuple[Any, dt.date]]:
    """``count`` synthetic patients (``rccnav cohort synth``) as (Case, assessment date):
    even ones the day before their first line starts (a first-line decision), odd ones at
    the data cut-off (most in a later line), as ``rccnav cohort assess`` can."""
    from rccnav import default_knowledge_base
    from rccnav.adapters.cohort import synth
    from rccnav.adapters.errors import InputError
    from rccnav.adapters.fhir.bundle import index_resources
    from rccnav.adapters.fhir.reader import read_index

    kb = default_knowledge_base()
    out: list[tuple[Any, dt.date]] = []
    for number, (resources, truth) in enumerate(synth.patients(count, seed)):
        on = synth.DATA_CUTOFF
        if number % 2 == 0:
            on = truth.first_line_start - dt.timedelta(days=1)
        index = index_resources(resources, "fhir-ndjson", "synthetic", label="line")
        try:
            case = read_index(index, name="synthetic", on=on, lookback_days=None, kb=kb).case
        except InputError:  # an unusable synthetic record is skipped, not timed
            continue
        out.append((case, on))
    return out


def _distinct(patients: list[tuple[Any, dt.date]], kb: Any) -> dict[str, float]:
    """Each patient assessed once (memo as a service would have it after the patients
    before), interleaved with the floor of the same patient."""
    from rccnav import assess
    from rccnav.core.decisions import treatment
    from rccnav.core.memo import clear_patient_memos

    clear_patient_memos()
    clock = time.perf_counter_ns
    samples = [0] * len(patients)
    floors = [0] * len(patients)
    for i, (case, on) in enumerate(patients):
        start = clock()
        assess(case, kb, on)
        middle = clock()
        floor(case, on)
        floors[i] = clock() - middle
        samples[i] = middle - start
    result = _summary(samples, floors)
    result["memo_entries"] = float(len(treatment._MEMO))
    return result


def _memory(case: Any, kb: Any, calls: int) -> dict[str, float]:
    """Peak traced memory of one call, and memory still held after ``calls`` more (leak check).

    A batch "peak" is not reported: CPython keeps freed tuples, dicts and floats on its
    free lists until a full collection, so it measures the allocator, not rccnav.
    """
    from rccnav import assess

    assess(case, kb, ON)
    gc.collect()
    tracemalloc.start()
    before, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    assess(case, kb, ON)
    _, one_peak = tracemalloc.get_traced_memory()
    for _ in range(calls):
        assess(case, kb, ON)
    gc.collect()
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "one_call_peak_kib": (one_peak - before) / 1024,
        "retained_after_batch_kib": (after - before) / 1024,
    }


def _cold_start_child() -> None:
    """Run in a fresh interpreter: import, KB load, first call (UCUM registry included)."""
    t0 = time.perf_counter_ns()
    import rccnav
    from rccnav import Case, default_knowledge_base

    t1 = time.perf_counter_ns()
    kb = default_knowledge_base()
    t2 = time.perf_counter_ns()
    case = Case.model_validate(COMPLETE)
    rccnav.assess(case, kb, ON)
    t3 = time.perf_counter_ns()
    rccnav.assess(case, kb, ON)
    t4 = time.perf_counter_ns()
    print(
        json.dumps(
            {
                "import_ms": (t1 - t0) / 1e6,
                "kb_load_ms": (t2 - t1) / 1e6,
                "first_assess_ms": (t3 - t2) / 1e6,
                "total_ms": (t3 - t0) / 1e6,
                "second_assess_us": (t4 - t3) / 1e3,
            }
        )
    )


def _cold_start(runs: int) -> dict[str, float]:
    results = []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, __file__, "--cold-start-child"],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(out.stdout))
    # The median run of each figure: the first run also pays the OS file cache.
    return {key: sorted(r[key] for r in results)[len(results) // 2] for key in results[0]}


def _profile(cases: dict[str, Any], kb: Any, calls: int, top: int) -> None:
    from rccnav import assess

    for name, case in cases.items():
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls):
            assess(case, kb, ON)
        profiler.disable()
        print(f"\n-- cProfile, {name} case, {calls} calls, top {top} by own time --")
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="timed calls per case (>= 20000)")
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--memory-calls", type=int, default=1_000)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument(
        "--patients", type=int, default=20_000, help="distinct synthetic patients, each once"
    )
    parser.add_argument("--cleared-calls", type=int, default=5_000)
    parser.add_argument("--profile", action="store_true", help="also print cProfile hotspots")
    parser.add_argument("--profile-calls", type=int, default=5_000)
    parser.add_argument("--cold-start-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_start_child:
        _cold_start_child()
        return

    cold = _cold_start(args.cold_runs)

    from rccnav import Case, default_knowledge_base

    kb = default_knowledge_base()
    cases = {
        "complete": Case.model_validate(COMPLETE),
        "incomplete": Case.model_validate(INCOMPLETE),
    }
    patients = synthetic_patients(args.patients) if args.patients else []
    rows = {}
    cleared = {}
    for name, case in cases.items():
        rows[name] = {**_latency(case, kb, args.calls, args.warmup)}
        rows[name].update(_memory(case, kb, args.memory_calls))
        cleared[name] = _cleared(case, kb, args.cleared_calls, args.warmup // 10)
    distinct = _distinct(patients, kb) if patients else None

    print(
        f"rccnav assess() benchmark - {dt.date.today()}, Python {platform.python_version()}, "
        f"{platform.machine()} x {os.cpu_count()} cores, KB {kb.version}, {args.calls} timed "
        f"calls/case after {args.warmup} warm-up"
    )
    header = (
        f"{'case':<11}{'p50 us':>9}{'p90 us':>9}{'p99 us':>9}{'max us':>10}"
        f"{'mean us':>9}{'cases/s':>10}{'peak/call KiB':>15}{'retained KiB':>14}"
    )
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:<11}{r['p50_us']:>9.1f}{r['p90_us']:>9.1f}{r['p99_us']:>9.1f}"
            f"{r['max_us']:>10.1f}{r['mean_us']:>9.1f}{r['throughput_per_s']:>10.0f}"
            f"{r['one_call_peak_kib']:>15.1f}{r['retained_after_batch_kib']:>14.1f}"
        )
    print(
        f"\nfloor (hand-written explained IMDC + MSKCC + table look-up, interleaved):\n"
        f"{'case':<11}{'p50 us':>9}{'p99 us':>9}{'ratio p50':>11}{'ratio p99':>11}"
    )
    for name, r in rows.items():
        print(
            f"{name:<11}{r['floor_p50_us']:>9.1f}{r['floor_p99_us']:>9.1f}"
            f"{r['p50_us'] / r['floor_p50_us']:>10.1f}x{r['p99_us'] / r['floor_p99_us']:>10.1f}x"
        )
    print(
        "\nwhat the memo cannot fake (floor = the same patient's hand-written floor, "
        "interleaved):\n"
        f"{'run':<44}{'p50 us':>9}{'p99 us':>9}{'floor p50':>11}{'floor p99':>11}"
        f"{'ratio p50':>11}{'ratio p99':>11}"
    )
    honest = [(f"{name}, patient memos cleared before each call", r) for name, r in cleared.items()]
    if distinct is not None:
        honest.append((f"{len(patients)} distinct synthetic patients, each once", distinct))
    for label, r in honest:
        print(
            f"{label:<44}{r['p50_us']:>9.1f}{r['p99_us']:>9.1f}{r['floor_p50_us']:>11.1f}"
            f"{r['floor_p99_us']:>11.1f}{r['p50_us'] / r['floor_p50_us']:>10.1f}x"
            f"{r['p99_us'] / r['floor_p99_us']:>10.1f}x"
        )
    if distinct is not None:
        print(
            f"(treatment memo after the distinct run: {distinct['memo_entries']:.0f} keys "
            f"for {len(patients)} patients)"
        )
    print(
        f"\ncold start (fresh interpreter, median of {args.cold_runs}): import "
        f"{cold['import_ms']:.0f} ms + KB load {cold['kb_load_ms']:.0f} ms + first assess "
        f"(UCUM registry, unit parsing) {cold['first_assess_ms']:.0f} ms = "
        f"{cold['total_ms']:.0f} ms; second call {cold['second_assess_us']:.0f} us"
    )
    verdicts = []
    for name, r in rows.items():
        ok = r["p50_us"] <= TARGET_P50_US and r["p99_us"] <= TARGET_P99_US
        verdicts.append(f"{name}: {'met' if ok else 'MISSED'}")
    print(
        f"target p50 <= {TARGET_P50_US:.0f} us, p99 <= {TARGET_P99_US:.0f} us: "
        + ", ".join(verdicts)
    )
    if args.profile or any("MISSED" in v for v in verdicts):
        _profile(cases, kb, args.profile_calls, top=15)


if __name__ == "__main__":
    main()
