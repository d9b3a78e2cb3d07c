"""The Spark engine: the same per-patient assessment over partitions of patients.

Spark reads the NDJSON lines as text, routes each to its patient with the same rule as
the local engine (``Patient.id`` or the subject/patient reference; no clinical logic),
attaches the shared Medications a patient's records reference, and writes the lines
into hash buckets of patients (Parquet) under ``OUT/.cohort-work``. The buckets are
then assessed as the tasks of one Spark job: each task runs the local engine's
:func:`~rccnav.adapters.cohort.engine_local.assess_bucket` on its bucket (the same
grouping, line order and :func:`assess_patient` per patient) and writes the bucket's
part file. Nothing is shuffled and no row passes through the JVM: the bucket is the
partition of patients. As with the local engine, a re-run with the same input, date
and knowledge base skips the buckets already done (resume) and gives the same rows.
``--master local[*]`` runs on this machine; a cluster URL needs rccnav installed on
the executors and the export and ``OUT`` on storage they all read and write.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rccnav.adapters.cohort.engine_local import (
    RunSummary,
    assess_bucket,
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
from rccnav.adapters.cohort.patient import Options, knowledge_base
from rccnav.adapters.errors import InputError


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
        if pending:
            # Absolute: an executor does not run in the driver's working directory.
            root, parts = grouped.root.resolve(), work.resolve()
            job = spark.sparkContext.parallelize(pending, len(pending)).mapPartitions(
                lambda buckets: _assess_buckets(buckets, root, parts, options)
            )
            job.collect()
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
    # One parse of each line for its top-level fields (json_tuple); the references are
    # then read from the small subject / patient / medicationReference objects.
    fields = text.select(
        value.alias("resource"),
        F.json_tuple(
            value, "resourceType", "id", "subject", "patient", "medicationReference"
        ).alias("rtype", "rid", "subject", "patient", "medref"),
    )
    rtype, rid = F.col("rtype"), F.col("rid")
    ref = F.coalesce(
        F.get_json_object(F.col("subject"), "$.reference"),
        F.get_json_object(F.col("patient"), "$.reference"),
    )
    pid = (
        F.when(rtype == "Patient", rid)
        .when(ref.startswith("urn:uuid:"), F.substring(ref, 10, 1 << 20))
        .otherwise(F.nullif(F.regexp_extract(ref, r"(?:^|/)Patient/([^/]+)", 1), F.lit("")))
    )
    medication = F.nullif(
        F.regexp_extract(F.get_json_object(F.col("medref"), "$.reference"), MEDICATION_KEY, 1),
        F.lit(""),
    )
    # A line json_tuple cannot parse gives no fields: only then is it checked in full
    # (a JSON object without resourceType is valid and counted as such).
    valid = F.when(rtype.isNull(), F.get_json_object("resource", "$").isNotNull()).otherwise(True)
    routed = fields.select(
        "resource",
        rtype.alias("rtype"),
        rid.alias("rid"),
        pid.alias("pid"),
        medication.alias("medication"),
        valid.alias("valid"),
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


def _assess_buckets(
    buckets: Iterable[int], root: Path, work: Path, options: Options
) -> Iterator[int]:
    """On an executor: each bucket assessed as the local engine does it, its rows written
    as the bucket's part file (atomically, so a retried task cannot leave half a part);
    yields how many rows each bucket gave."""
    for bucket in buckets:
        result = assess_bucket(root / f"bucket={bucket}", options)
        write_part(work, bucket, result)
        yield result.num_rows
