"""The Spark engine: the same per-patient assessment over partitions of patients.

Spark reads the NDJSON lines as text, routes each to its patient with the same rule as
the local engine (``Patient.id`` or the subject/patient reference; no clinical logic),
groups by patient and hands whole patients to :func:`assess_patient` in Arrow batches
(``mapInArrow``). Each patient's lines are put in the same order as the local engine
puts them, so both engines give identical rows. ``--master local[*]`` runs in this
process's machine; a cluster URL needs rccnav installed on the executors and the
export on storage they can read.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from rccnav.adapters.cohort.engine_local import RunSummary, finish, prepare_work
from rccnav.adapters.cohort.group import Grouped, export_files
from rccnav.adapters.cohort.patient import SCHEMA, Options, assess_patient, knowledge_base, table
from rccnav.adapters.errors import InputError

_SPARK_TYPES = {
    "string": "STRING",
    "list<item: string>": "ARRAY<STRING>",
    "date32[day]": "DATE",
    "int16": "SMALLINT",
    "int32": "INT",
    "bool": "BOOLEAN",
}


def spark_schema() -> str:
    """The row schema as Spark DDL, derived from the one Arrow schema."""
    return ", ".join(f"{field.name} {_SPARK_TYPES[str(field.type)]}" for field in SCHEMA)


def _assess_batches(
    batches: Iterator[pa.RecordBatch], options: Options
) -> Iterator[pa.RecordBatch]:
    for batch in batches:
        rows = []
        for item in batch.to_pylist():
            lines = [entry["resource"] for entry in
                     sorted(item["lines"], key=lambda e: (e["rank"], e["resource"]))]
            rows.append(assess_patient(item["pid"], lines, options))
        yield from table(rows).to_batches()


def _session(master: str) -> Any:
    from pyspark.sql import SparkSession

    # Executors on this machine must run this interpreter (where rccnav is installed).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(master)
        .appName("rccnav-cohort")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "256")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def run_spark(export_dir: Path, out: Path, options: Options, master: str) -> RunSummary:
    started = time.perf_counter()
    export = export_files(export_dir)
    knowledge_base(options.kb_path)  # fail early on a bad --kb, before starting Spark
    work = prepare_work(out, {"input": export.fingerprint(), "engine": "spark",
                              **options.fingerprint(knowledge_base(options.kb_path))})
    parts = work / "parts"
    spark = _session(master)
    try:
        return _run(spark, export_dir, export.files, out, work, parts, options, started)
    finally:
        spark.stop()


def _run(
    spark: Any,
    export_dir: Path,
    files: tuple[Path, ...],
    out: Path,
    work: Path,
    parts: Path,
    options: Options,
    started: float,
) -> RunSummary:
    from pyspark.sql import functions as F

    text = spark.read.text([str(path) for path in files])
    value = F.col("value")
    text = text.where(F.trim(value) != "")
    bad = text.where(F.get_json_object(value, "$").isNull()).count()
    if bad:
        raise InputError(f"{bad} NDJSON lines are not JSON", where=str(export_dir))
    rtype = F.get_json_object(value, "$.resourceType")
    ref = F.coalesce(F.get_json_object(value, "$.subject.reference"),
                     F.get_json_object(value, "$.patient.reference"))
    pid = (
        F.when(rtype == "Patient", F.get_json_object(value, "$.id"))
        .when(ref.startswith("urn:uuid:"), F.substring(ref, 10, 1 << 20))
        .otherwise(F.nullif(F.regexp_extract(ref, r"(?:^|/)Patient/([^/]+)", 1), F.lit("")))
    )
    routed = text.select(value.alias("resource"), rtype.alias("rtype"), pid.alias("pid"))
    unrouted = {
        row["t"]: int(row["n"])
        for row in routed.where(F.col("pid").isNull())
        .groupBy(F.coalesce(F.col("rtype"), F.lit("(no resourceType)")).alias("t"))
        .agg(F.count("*").alias("n"))
        .collect()
    }
    rank = F.when(F.col("rtype") == "Patient", 0).otherwise(1)
    patients = routed.where(F.col("pid").isNotNull()).groupBy("pid").agg(
        F.collect_list(F.struct(rank.alias("rank"), F.col("resource"))).alias("lines")
    )
    rows = patients.mapInArrow(lambda batches: _assess_batches(batches, options), spark_schema())
    shutil.rmtree(parts, ignore_errors=True)
    rows.write.parquet(str(parts))
    grouped = Grouped(parts, patients.rdd.getNumPartitions(), 0, dict(sorted(unrouted.items())))
    return finish(out, work, grouped, 0, started, "spark")
