"""The Spark engine: the same per-patient assessment over partitions of patients.

Spark reads the NDJSON lines as text, routes each to its patient with the same rule as
the local engine (``Patient.id`` or the subject/patient reference; no clinical logic),
attaches the shared Medications a patient's records reference, and writes the lines
into hash buckets of patients (Parquet) under ``OUT/.cohort-work``. Each bucket is then
one Spark job: patients grouped, whole patients handed to :func:`assess_patient` in
Arrow batches (``mapInArrow``), the rows written as that bucket's part file. Each
patient's lines are put in the same order as the local engine puts them, so both
engines give identical rows. As with the local engine, a re-run with the same input,
date and knowledge base skips the buckets already done (resume) and gives the same
rows. ``--master local[*]`` runs on this machine; a cluster URL needs rccnav installed
on the executors and the export and ``OUT`` on storage they can read.
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

from rccnav.adapters.cohort.engine_local import (
    RunSummary,
    finish,
    part_path,
    prepare_work,
    read_grouped,
    write_grouped,
    write_part,
)
from rccnav.adapters.cohort.group import (
    MEDICATION_KEY,
    SHARED_BUCKET,
    ExportFiles,
    Grouped,
    bucket_count,
    export_files,
)
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
            lines = [
                entry["resource"]
                for entry in sorted(item["lines"], key=lambda e: (e["rank"], e["resource"]))
            ]
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
    kb = knowledge_base(options.kb_path)  # fail early on a bad --kb, before starting Spark
    work = prepare_work(
        out, {"input": export.fingerprint(), "engine": "spark", **options.fingerprint(kb)}
    )
    spark = _session(master)
    try:
        grouped = _grouped(spark, export, work)
        pending = [b for b in range(grouped.buckets) if not part_path(work, b).exists()]
        for bucket in pending:
            write_part(work, bucket, _assess_bucket(spark, grouped.bucket_path(bucket), options))
        return finish(out, work, grouped, grouped.buckets - len(pending), started, "spark")
    finally:
        spark.stop()


def _grouped(spark: Any, export: ExportFiles, work: Path) -> Grouped:
    """The export routed into buckets of patients, once per work folder (resumable)."""
    done = work / "grouped.json"
    if done.exists():
        return read_grouped(done)
    root = work / "spark-grouped"
    shutil.rmtree(root, ignore_errors=True)
    buckets = bucket_count(export)
    _route(spark, export, root, buckets)
    lines = spark.read.parquet(str(root))
    from pyspark.sql import functions as F

    shared = lines.where(F.col("bucket") == SHARED_BUCKET)
    bad = shared.where(~F.col("valid")).count()
    if bad:
        raise InputError(f"{bad} NDJSON lines are not JSON", where=str(export.folder))
    unrouted = {
        row["t"]: int(row["n"])
        for row in shared.groupBy(F.coalesce(F.col("rtype"), F.lit("(no resourceType)")).alias("t"))
        .agg(F.count("*").alias("n"))
        .collect()
    }
    attached = 0
    if unrouted.get("Medication"):
        attached = _attach_shared_medications(lines, root)
    patients = lines.where(F.col("pid").isNotNull()).select("pid").distinct().count()
    grouped = Grouped(root, buckets, patients, dict(sorted(unrouted.items())), attached)
    write_grouped(done, grouped)
    return grouped


def _route(spark: Any, export: ExportFiles, root: Path, buckets: int) -> None:
    """One pass over the export: each line into its patient's bucket (the shared bucket
    for lines that name no patient, or are not JSON)."""
    from pyspark.sql import functions as F

    text = spark.read.text([str(path) for path in export.files])
    value = F.col("value")
    text = text.where(F.trim(value) != "")
    rtype = F.get_json_object(value, "$.resourceType")
    ref = F.coalesce(
        F.get_json_object(value, "$.subject.reference"),
        F.get_json_object(value, "$.patient.reference"),
    )
    rid = F.get_json_object(value, "$.id")
    pid = (
        F.when(rtype == "Patient", rid)
        .when(ref.startswith("urn:uuid:"), F.substring(ref, 10, 1 << 20))
        .otherwise(F.nullif(F.regexp_extract(ref, r"(?:^|/)Patient/([^/]+)", 1), F.lit("")))
    )
    medication = F.nullif(
        F.regexp_extract(
            F.get_json_object(value, "$.medicationReference.reference"), MEDICATION_KEY, 1
        ),
        F.lit(""),
    )
    routed = text.select(
        value.alias("resource"),
        rtype.alias("rtype"),
        rid.alias("rid"),
        pid.alias("pid"),
        medication.alias("medication"),
        F.get_json_object(value, "$").isNotNull().alias("valid"),
    )
    bucket = F.when(F.col("pid").isNull() | ~F.col("valid"), F.lit(SHARED_BUCKET)).otherwise(
        F.pmod(F.xxhash64("pid"), F.lit(buckets))
    )
    rank = F.when(F.col("rtype") == "Patient", 0).otherwise(1)
    routed.select("*", bucket.alias("bucket"), rank.alias("rank")).write.partitionBy(
        "bucket"
    ).parquet(str(root))


def _attach_shared_medications(lines: Any, root: Path) -> int:
    """Each referenced shared Medication copied into the bucket of every patient naming it
    (as the local engine does); how many copies were made."""
    from pyspark.sql import functions as F

    wanted = (
        lines.where(F.col("pid").isNotNull() & F.col("medication").isNotNull())
        .select("bucket", "pid", "medication")
        .distinct()
    )
    medications = lines.where(
        (F.col("bucket") == SHARED_BUCKET)
        & (F.col("rtype") == "Medication")
        & F.col("rid").isNotNull()
    ).select(F.concat(F.lit("Medication/"), F.col("rid")).alias("medication"), "resource")
    copies = (
        wanted.join(medications, "medication")
        .select(
            "resource",
            F.lit("Medication").alias("rtype"),
            F.lit(None).cast("string").alias("rid"),
            "pid",
            F.lit(None).cast("string").alias("medication"),
            F.lit(True).alias("valid"),
            "bucket",
            F.lit(1).alias("rank"),
        )
        .cache()
    )
    count = int(copies.count())
    if count:
        copies.write.mode("append").partitionBy("bucket").parquet(str(root))
    copies.unpersist()
    return count


def _assess_bucket(spark: Any, path: Path, options: Options) -> pa.Table:
    """One bucket's rows: its patients assessed on the executors, collected as Arrow."""
    from pyspark.sql import functions as F

    if not path.exists():  # no patient hashed to this bucket
        return SCHEMA.empty_table()
    patients = (
        spark.read.parquet(str(path))
        .groupBy("pid")
        .agg(F.collect_list(F.struct("rank", "resource")).alias("lines"))
    )
    rows = patients.mapInArrow(lambda batches: _assess_batches(batches, options), spark_schema())
    result: pa.Table = rows.toArrow()
    return result.cast(SCHEMA)
