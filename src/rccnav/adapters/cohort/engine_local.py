"""The local engine: DuckDB groups the export, worker processes assess bucket by bucket.

Work lives in ``OUT/.cohort-work``: the grouped buckets and one Parquet part per
bucket done. A re-run with the same input and options skips finished buckets
(resume after an interruption) and rewrites the same result (idempotent); a run with
another input, date or knowledge base starts afresh.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from rccnav.adapters.cohort.group import Grouped, bucket_patients, export_files, group_export
from rccnav.adapters.cohort.patient import Options, assess_patient, knowledge_base, table

WORK = ".cohort-work"
Progress = Callable[[int], None]


@dataclass(frozen=True)
class RunSummary:
    patients: int
    assessed: int
    unusable: int
    errors: int
    unrouted: dict[str, int]
    #: Copies of shared Medications given to the patients whose records reference them.
    shared_attached: int
    buckets: int
    resumed_buckets: int
    seconds: float
    engine: str


def assess_bucket(path: Path, options: Options) -> pa.Table:
    knowledge_base(options.kb_path)
    # The knowledge base and terminology live as long as the process: keep them out of
    # every collection. Reading allocates many short-lived objects and would trigger
    # repeated full collections; pause the cyclic GC for one bucket (bounded memory).
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        rows = [assess_patient(pid, lines, options) for pid, lines in bucket_patients(path)]
    finally:
        if was_enabled:
            gc.enable()
    return table(rows)


def _state(input_fingerprint: str, options: Options, engine: str) -> dict[str, Any]:
    kb = knowledge_base(options.kb_path)
    return {"input": input_fingerprint, "engine": engine, **options.fingerprint(kb)}


def prepare_work(out: Path, state: dict[str, Any]) -> Path:
    """The work folder for this state; a stale one (other input or options) is cleared."""
    work = out / WORK
    state_file = work / "state.json"
    if state_file.exists():
        try:
            same = orjson.loads(state_file.read_bytes()) == state
        except orjson.JSONDecodeError:
            same = False
        if not same:
            shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    state_file.write_bytes(orjson.dumps(state))
    return work


def read_grouped(done: Path) -> Grouped:
    data = orjson.loads(done.read_bytes())
    return Grouped(
        Path(data["root"]),
        data["buckets"],
        data["patients"],
        data["unrouted"],
        data.get("shared_attached", 0),
    )


def write_grouped(done: Path, grouped: Grouped) -> None:
    done.write_bytes(orjson.dumps({**asdict(grouped), "root": str(grouped.root)}))


def grouped_input(export_dir: Path, work: Path) -> Grouped:
    done = work / "grouped.json"
    if done.exists():
        return read_grouped(done)
    shutil.rmtree(work / "grouped", ignore_errors=True)
    grouped = group_export(export_files(export_dir), work)
    shutil.rmtree(work / "duckdb-tmp", ignore_errors=True)
    write_grouped(done, grouped)
    return grouped


def part_path(work: Path, bucket: int) -> Path:
    return work / "parts" / f"part-{bucket:05d}.parquet"


def write_part(work: Path, bucket: int, result: pa.Table) -> None:
    final = part_path(work, bucket)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Named for this process: a Spark task retried elsewhere cannot write into it.
    partial = final.with_name(f"{final.stem}.{os.getpid()}.tmp")
    pq.write_table(result, partial)
    os.replace(partial, final)  # a part exists only once complete


def _one(job: tuple[Path, Options]) -> tuple[Path, pa.Table]:
    path, options = job
    return path, assess_bucket(path, options)


def _results(jobs: list[tuple[Path, Options]], workers: int) -> Iterator[tuple[Path, pa.Table]]:
    if workers <= 1 or len(jobs) <= 1:
        yield from map(_one, jobs)
        return
    context = multiprocessing.get_context("spawn" if sys.platform == "darwin" else "fork")
    with context.Pool(workers) as pool:
        yield from pool.imap_unordered(_one, jobs)


def progress_bar(total: int, label: str) -> Any:
    """A tqdm bar on a terminal; silent otherwise (pipes, CI, tests)."""
    from tqdm import tqdm

    return tqdm(total=total, unit="patient", desc=label, disable=not sys.stderr.isatty())


def run_local(export_dir: Path, out: Path, options: Options, workers: int) -> RunSummary:
    started = time.perf_counter()
    export = export_files(export_dir)
    work = prepare_work(out, _state(export.fingerprint(), options, "local"))
    grouped = grouped_input(export_dir, work)
    pending = [b for b in range(grouped.buckets) if not part_path(work, b).exists()]
    resumed = grouped.buckets - len(pending)
    jobs = [(grouped.bucket_path(b), options) for b in pending]
    index = {grouped.bucket_path(b): b for b in pending}
    with progress_bar(grouped.patients, "assessing") as bar:
        bar.update(_rows_done(work))
        for path, result in _results(jobs, workers):
            write_part(work, index[path], result)
            bar.update(result.num_rows)
    return finish(out, work, grouped, resumed, started, "local")


def _rows_done(work: Path) -> int:
    parts = sorted((work / "parts").glob("part-*.parquet"))
    return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)


def finish(
    out: Path, work: Path, grouped: Grouped, resumed: int, started: float, engine: str
) -> RunSummary:
    from rccnav.adapters.cohort.output import write_outputs

    counts = write_outputs(work / "parts", out)
    summary = RunSummary(
        patients=counts.get("total", 0),
        assessed=counts.get("assessed", 0),
        unusable=counts.get("unusable", 0),
        errors=counts.get("error", 0),
        unrouted=grouped.unrouted,
        shared_attached=grouped.shared_attached,
        buckets=grouped.buckets,
        resumed_buckets=resumed,
        seconds=round(time.perf_counter() - started, 3),
        engine=engine,
    )
    (out / "cohort.json").write_bytes(orjson.dumps(asdict(summary), option=orjson.OPT_INDENT_2))
    return summary
