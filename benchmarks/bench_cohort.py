"""Cohort throughput: ``rccnav cohort assess`` end to end beside DuckDB merely reading the export.

Writes a synthetic Bulk Data export (``rccnav cohort synth``; invented patients), then
runs, each in its own process so peak memory is its own:

- floor: DuckDB reads every NDJSON line and extracts what routing needs (resource type
  and patient) and the IMDC inputs' codes, counting per patient: the I/O floor;
- local: ``cohort assess`` with the local engine (DuckDB grouping + 2 worker processes);
- spark: ``cohort assess --engine spark --master local[2]`` (unless ``--no-spark``).

Reports seconds, patients/s, peak resident memory of the whole process tree (sampled
from /proc every 0.1 s), CPU seconds of the tree (user + system) and both ratios to the
floor; on a loaded machine the CPU ratio is the steadier one. Goal (issue 11): local <= 3x the
floor, peak RSS <= 2 GB whatever N. Spark can run on a smaller export
(``--spark-patients``), with its own floor measured on that export. The load average
of the machine is printed before and after: the machine is shared, so the ratio to the
same run's floor is the figure that counts.

``--stages K`` instead times each stage of the local engine's per-patient pipeline in one
process (CPU microseconds per patient, the fastest of two warm passes over the first K
buckets), beside the grouping, the merge of the parts and a worker's start-up; the rows
it builds are checked to equal those ``cohort assess`` builds.

Run: ``.venv/bin/python benchmarks/bench_cohort.py [--patients 100000]
[--spark-patients 20000] [--no-spark] [--stages 2]`` (prints figures; asserts nothing).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

FLOOR_SQL = """
SELECT count(DISTINCT pid), count(*), count(code)
FROM (
    SELECT json ->> 'resourceType' AS rtype,
           coalesce(json ->> 'id', '') AS rid,
           json ->> '$.code.coding[0].code' AS code,
           CASE WHEN json ->> 'resourceType' = 'Patient' THEN json ->> 'id'
                ELSE regexp_extract(json ->> '$.subject.reference', 'Patient/([^/]+)', 1)
           END AS pid
    FROM read_json_objects({files}, format = 'newline_delimited')
)
"""


_TICKS = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> tuple[int, dict[int, float]]:
    """Resident memory (KiB) of ``root`` and all its descendants, and each one's CPU
    seconds so far (user + system), from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                pages = int(handle.read().split()[1])
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / _TICKS
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in members:
                members.add(pid)
                frontier.append(pid)
    return sum(rss.get(pid, 0) for pid in members), {p: cpu[p] for p in members if p in cpu}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _measure(argv: list[str]) -> tuple[float, int, float]:
    """Run a command: its wall time, the peak RSS (KiB) of its process tree and the CPU
    seconds of the tree (user + system): the larger of what the waited-for descendants
    report and what sampling every descendant showed (a JVM Spark starts is not waited
    for; sampling misses at most the last 0.1 s of each process)."""
    cpu_before = _children_cpu()
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    seen: dict[int, float] = {}
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            rss, cpu = _tree(process.pid)
            peak = max(peak, rss)
            seen.update(cpu)
            done.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _out, err = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        sys.stderr.write(err.decode(errors="replace")[-2000:])
        raise SystemExit(f"{argv[:4]} failed with status {process.returncode}")
    return elapsed, peak, max(_children_cpu() - cpu_before, sum(seen.values()))


def _floor(export: Path) -> None:
    import duckdb

    files = sorted(str(p) for p in export.glob("*.ndjson"))
    con = duckdb.connect()
    con.execute("SET threads = 2")
    print(con.execute(FLOOR_SQL.format(files=files)).fetchone())


def _export(work: Path, patients: int, seed: int) -> Path:
    export = work / f"export-{patients}"
    if not (export / "manifest.json").exists():
        seconds, _, _ = _measure(
            [
                *RCCNAV,
                "cohort",
                "synth",
                "--patients",
                str(patients),
                "--seed",
                str(seed),
                "--out",
                str(export),
            ]
        )
        size = sum(p.stat().st_size for p in export.glob("*.ndjson")) / 2**20
        print(f"synth: {patients:,} patients ({size:.0f} MiB NDJSON) in {seconds:.1f} s")
    return export


def _run(
    label: str, argv: list[str], patients: int, floor: tuple[float, float] | None
) -> tuple[float, float]:
    seconds, peak, cpu = _measure(argv)
    wall_ratio, cpu_ratio = (seconds / floor[0], cpu / floor[1]) if floor else (1.0, 1.0)
    print(
        f"{label:<36} {patients:>8,} {seconds:>8.1f} {patients / seconds:>11,.0f} "
        f"{peak / 1024:>8.0f} MB {wall_ratio:>7.1f}x {cpu:>8.1f} {cpu_ratio:>7.1f}x",
        flush=True,
    )
    return seconds, cpu


_STAGES = (
    "bucket read (Parquet, sort, to Python)",
    "decode lines (orjson)",
    "follow-up dates",
    "index resources",
    "FHIR read (read_index)",
    "assess (assess_input)",
    "row build",
    "Arrow table",
    "pickle to the main process (IPC)",
    "Parquet part write",
)


def _stage_pass(buckets: list[Path], options: Any) -> tuple[list[float], int, list[Any]]:
    """One pass of the local engine's per-bucket work, timed stage by stage (CPU).

    Mirrors ``patient.assess_patient`` step by step (``--on`` path); the caller checks
    that the rows are the ones assess_patient builds."""
    import pickle

    import orjson
    import pyarrow.parquet as pq

    from rccnav.adapters.cohort import patient as P
    from rccnav.adapters.cohort.group import bucket_patients
    from rccnav.adapters.errors import InputError
    from rccnav.adapters.fhir.bundle import index_resources
    from rccnav.adapters.fhir.reader import read_index
    from rccnav.adapters.intake import assess_input

    cpu = time.process_time
    kb = P.knowledge_base(options.kb_path)
    spent = [0.0] * len(_STAGES)
    patients = 0
    tables = []
    for path in buckets:
        t = cpu()
        grouped = list(bucket_patients(path))
        spent[0] += cpu() - t
        rows = []
        for pid, lines in grouped:
            patients += 1
            t0 = cpu()
            row = P._empty_row(pid, kb)
            name = f"patient {pid}"
            resources = [orjson.loads(line) for line in lines]
            t1 = cpu()
            row["death_date"], row["last_contact"] = P.follow_up(resources)
            t2 = cpu()
            spent[1] += t1 - t0
            spent[2] += t2 - t1
            try:
                index = index_resources(resources, "fhir-ndjson", name, label="line")
                t3 = cpu()
                intake = read_index(index, name=name, on=options.on, lookback_days=None, kb=kb)
                t4 = cpu()
                assessment = assess_input(intake, kb, options.on)
                t5 = cpu()
                first_line = P._first_line(intake.case)
                row.update(P._assessment_columns(assessment, intake.case))
                if first_line is not None:
                    row["first_line_regimen"], row["first_line_start"] = first_line
                t6 = cpu()
                spent[3] += t3 - t2
                spent[4] += t4 - t3
                spent[5] += t5 - t4
                spent[6] += t6 - t5
            except InputError as exc:
                row.update(status="unusable", reason=str(exc))
            rows.append(row)
        t = cpu()
        table = P.table(rows)
        t7 = cpu()
        pickle.loads(pickle.dumps(table))
        t8 = cpu()
        pq.write_table(table, path.parent.parent / "stage-part.parquet")
        t9 = cpu()
        spent[7] += t7 - t
        spent[8] += t8 - t7
        spent[9] += t9 - t8
        tables.append(table)
    return spent, patients, tables


def _startup_cpu() -> float:
    """CPU seconds of a fresh process importing the engine and loading the knowledge base."""
    spent = "u = resource.getrusage(resource.RUSAGE_SELF); print(u.ru_utime + u.ru_stime)"
    code = (
        "import resource; from rccnav.adapters.cohort import engine_local, patient; "
        f"patient.knowledge_base(None); {spent}"
    )
    floor = f"import resource; {spent}"
    run = [sys.executable, "-c"]
    full = min(float(subprocess.check_output([*run, code])) for _ in range(3))
    bare = min(float(subprocess.check_output([*run, floor])) for _ in range(3))
    return full - bare


def stages(export: Path, work: Path, buckets_wanted: int) -> None:
    """Per-stage CPU per patient of the local engine (see the module docstring)."""
    import gc
    from datetime import date

    from rccnav.adapters.cohort import patient as P
    from rccnav.adapters.cohort.group import export_files, group_export
    from rccnav.adapters.cohort.output import write_outputs

    options = P.Options(on=date(2026, 7, 1))
    shutil.rmtree(work / "stages", ignore_errors=True)
    before = time.process_time()
    grouped = group_export(export_files(export), work / "stages")
    grouping = time.process_time() - before
    buckets = [grouped.bucket_path(b) for b in range(min(buckets_wanted, grouped.buckets))]
    gc.freeze()
    gc.disable()  # as the worker does for a bucket
    best: list[float] | None = None
    tables: list[Any] = []
    for _ in range(2):  # the first pass also warms the caches; keep the faster of each
        spent, patients, tables = _stage_pass(buckets, options)
        best = spent if best is None else [min(a, b) for a, b in zip(best, spent, strict=True)]
    gc.enable()
    assert best is not None
    expected = [
        P.table([P.assess_patient(pid, lines, options) for pid, lines in bucket_patients_of(b)])
        for b in buckets
    ]
    same = all(a.equals(b) for a, b in zip(tables, expected, strict=True))
    parts = work / "stages" / "parts"
    parts.mkdir(exist_ok=True)
    import pyarrow.parquet as pq

    for number, table in enumerate(expected):
        pq.write_table(table, parts / f"part-{number:05d}.parquet")
    before = time.process_time()
    write_outputs(parts, work / "stages" / "out")
    merging = time.process_time() - before
    per = 1e6 / patients
    total = sum(best)
    _seconds, _peak, floor_cpu = _measure([sys.executable, __file__, "--floor-only", str(export)])
    print(f"per-patient pipeline, {patients:,} patients in {len(buckets)} buckets, one process")
    print(f"rows equal to cohort assess's: {same}")
    print(f"{'stage':<40} {'CPU us/patient':>15} {'share':>7}")
    for label, seconds in zip(_STAGES, best, strict=True):
        print(f"{label:<40} {seconds * per:>15.1f} {100 * seconds / total:>6.1f}%")
    print(f"{'total per patient':<40} {total * per:>15.1f}")
    print(
        f"once per run: grouping (DuckDB) {grouping:.2f} CPU s for {grouped.patients:,} "
        f"patients ({grouping * 1e6 / max(grouped.patients, 1):.1f} us/patient); merging "
        f"{patients:,} rows into patients.parquet/.csv {merging * per:.1f} us/patient; "
        f"a worker's start-up (imports + knowledge base) {_startup_cpu():.2f} CPU s"
    )
    print(
        f"floor, same export: DuckDB reads + extracts {floor_cpu:.2f} CPU s "
        f"({floor_cpu * 1e6 / max(grouped.patients, 1):.1f} us/patient, Python start-up "
        "included); the per-patient pipeline alone is "
        f"{total * per / (floor_cpu * 1e6 / max(grouped.patients, 1)):.0f}x that"
    )


def bucket_patients_of(path: Path) -> Any:
    from rccnav.adapters.cohort.group import bucket_patients

    return bucket_patients(path)


RCCNAV = [sys.executable, "-m", "rccnav.adapters.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument(
        "--spark-patients", type=int, help="patients for the Spark run (default: --patients)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument(
        "--at-first-line-start",
        action="store_true",
        help="assess at first-line start (two reads per patient)",
    )
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    parser.add_argument(
        "--stages",
        type=int,
        metavar="K",
        help="time each stage of the per-patient pipeline over the first K buckets instead",
    )
    parser.add_argument("--floor-only", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_only:
        _floor(args.floor_only)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="rccnav-bench-cohort-"))
    when = ["--at", "first-line-start"] if args.at_first_line_start else ["--on", "2026-07-01"]
    print(
        f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"({os.cpu_count()} CPUs)"
    )
    try:
        export = _export(work, args.patients, args.seed)
        if args.stages:
            stages(export, work, args.stages)
            return
        print(
            f"\n{'run':<36} {'patients':>8} {'seconds':>8} {'patients/s':>11} "
            f"{'peak RSS':>10} {'x floor':>8} {'CPU s':>8} {'x floor':>8}"
        )
        floor = _run(
            "floor: DuckDB reads + extracts",
            [sys.executable, __file__, "--floor-only", str(export)],
            args.patients,
            None,
        )
        shutil.rmtree(work / "local", ignore_errors=True)
        _run(
            f"local engine ({args.workers} workers)",
            [
                *RCCNAV,
                "cohort",
                "assess",
                str(export),
                "--out",
                str(work / "local"),
                *when,
                "--workers",
                str(args.workers),
            ],
            args.patients,
            floor,
        )
        if not args.no_spark:
            spark_n = args.spark_patients or args.patients
            if spark_n != args.patients:
                export = _export(work, spark_n, args.seed)
                floor = _run(
                    "floor: DuckDB reads + extracts",
                    [sys.executable, __file__, "--floor-only", str(export)],
                    spark_n,
                    None,
                )
            shutil.rmtree(work / "spark", ignore_errors=True)
            _run(
                "spark local[2]",
                [
                    *RCCNAV,
                    "cohort",
                    "assess",
                    str(export),
                    "--out",
                    str(work / "spark"),
                    *when,
                    "--engine",
                    "spark",
                    "--master",
                    "local[2]",
                ],
                spark_n,
                floor,
            )
        print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
