"""Group a Bulk Data export by patient with DuckDB, without holding the cohort in memory.

DuckDB reads every NDJSON file (gzipped or not) as raw JSON text, takes the patient
each resource belongs to from ``Patient.id`` or its ``subject`` / ``patient``
reference, and writes the lines into hash buckets of patients (Parquet, spilling to
disk under a memory limit). Each bucket is then small enough to assess in one go,
and a bucket is the unit of resumption. SQL only routes lines: nothing clinical is
decided here.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from rccnav.adapters.errors import InputError

BUCKET_BYTES = 24 * 1024 * 1024
MEMORY_LIMIT = "1GB"
# Enough buckets for two workers to share even a small export.
MIN_BUCKETS = 8
_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_TYPE_RANK = "CASE WHEN rtype = 'Patient' THEN 0 ELSE 1 END"


@dataclass(frozen=True)
class ExportFiles:
    folder: Path
    files: tuple[Path, ...]
    manifest: dict[str, Any] | None

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for path in self.files:
            stat = path.stat()
            digest.update(f"{path.name}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        return digest.hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(path.stat().st_size for path in self.files)


def export_files(folder: Path) -> ExportFiles:
    """The NDJSON files of an export folder: those its manifest lists, else every one."""
    if not folder.is_dir():
        raise InputError(
            "not a folder: give the folder a Bulk Data export was saved in", where=str(folder)
        )
    manifest_path = folder / "manifest.json"
    manifest: dict[str, Any] | None = None
    if manifest_path.exists():
        try:
            manifest = orjson.loads(manifest_path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc}", where=str(manifest_path)) from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("output"), list):
            raise InputError(
                "no 'output' list (a Bulk Data manifest lists its files there)",
                where=str(manifest_path),
            )
        files = []
        for number, item in enumerate(manifest["output"], start=1):
            url = item.get("url") if isinstance(item, dict) else None
            if not isinstance(url, str) or not url:
                raise InputError(f"output {number} has no url", where=str(manifest_path))
            path = folder / url.rstrip("/").rsplit("/", 1)[-1]
            if not path.exists():
                raise InputError(
                    f"output {number} names {path.name}, which is not in the folder",
                    where=str(manifest_path),
                )
            files.append(path)
    else:
        files = sorted(p for p in folder.iterdir() if p.name.endswith(_SUFFIXES))
    if not files:
        raise InputError("no NDJSON files (*.ndjson, *.ndjson.gz) in the folder", where=str(folder))
    return ExportFiles(folder, tuple(sorted(files)), manifest)


@dataclass(frozen=True)
class Grouped:
    """The bucketed export: one Parquet folder per bucket, plus what was not routed."""

    root: Path
    buckets: int
    patients: int
    unrouted: dict[str, int]
    #: Copies of shared Medications attached to the patients that reference them.
    shared_attached: int = 0

    def bucket_path(self, bucket: int) -> Path:
        return self.root / f"bucket={bucket}"


def _connect(work: Path) -> Any:
    import duckdb

    con = duckdb.connect()
    tmp = work / "duckdb-tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.execute(f"SET temp_directory = '{_sql_text(str(tmp))}'")
    con.execute("SET preserve_insertion_order = false")
    return con


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


#: The Medication a resource names in ``medicationReference`` (relative ``Medication/id``
#: or an absolute URL ending in it, version dropped): the key shared Medications are
#: attached by. ``urn:uuid:`` and contained (``#id``) references are not attached: the
#: first resolves only inside a Bundle, the second is inside the resource itself.
MEDICATION_KEY = r"(?:^|/)(Medication/[^/]+)"


def _source_sql(files: tuple[Path, ...]) -> str:
    paths = ", ".join(f"'{_sql_text(str(path))}'" for path in files)
    # read_json_objects keeps each line's JSON text as it is; gzip is recognised by
    # the file name. Patient id: the Patient's own id, else its subject/patient
    # reference (relative Type/id, absolute URL ending in Patient/id, or urn:uuid).
    # The fields are taken in one json_extract_string call with a list of paths: each
    # line is parsed once, not once per field (half the CPU of five ->> extractions).
    return f"""
        WITH fields AS (
            SELECT json::VARCHAR AS resource,
                   json_extract_string(json, ['$.resourceType', '$.subject.reference',
                                              '$.patient.reference', '$.id',
                                              '$.medicationReference.reference']) AS f
            FROM read_json_objects([{paths}], format = 'newline_delimited',
                                   maximum_object_size = 67108864)
        ),
        raw AS (
            SELECT resource, f[1] AS rtype, coalesce(f[2], f[3]) AS ref, f[4] AS rid,
                   f[5] AS medref
            FROM fields
        )
        SELECT resource, rtype, rid,
               CASE
                   WHEN rtype = 'Patient' THEN rid
                   WHEN ref LIKE 'urn:uuid:%' THEN substr(ref, 10)
                   ELSE nullif(regexp_extract(ref, '(?:^|/)Patient/([^/]+)', 1), '')
               END AS pid,
               nullif(regexp_extract(medref, '{MEDICATION_KEY}', 1), '') AS medication
        FROM raw
    """


def bucket_count(export: ExportFiles, bucket_bytes: int = BUCKET_BYTES) -> int:
    """Buckets of about ``bucket_bytes`` of NDJSON each: what one worker holds at a time."""
    return max(MIN_BUCKETS, math.ceil(export.total_bytes / bucket_bytes))


#: Lines that name no patient (shared Medication, Organization ...) go to this bucket:
#: never assessed, counted, and the source of the shared Medications attached below.
SHARED_BUCKET = -1


def group_export(export: ExportFiles, work: Path, bucket_bytes: int = BUCKET_BYTES) -> Grouped:
    """Write the export's lines into ``work/grouped/bucket=K/`` by patient hash.

    One pass over the export writes every line into its patient's bucket (and the lines
    of no patient into the shared bucket). Then each patient whose medication records
    name a shared ``Medication`` by ``medicationReference`` gets a copy of that
    Medication among its own lines, as a Bundle would carry it: bulk exports keep
    Medication as its own NDJSON file, without a patient.
    """
    import duckdb

    root = work / "grouped"
    buckets = bucket_count(export, bucket_bytes)
    con = _connect(work)
    where = _sql_text(str(root))
    try:
        con.execute(f"CREATE TEMP VIEW src AS {_source_sql(export.files)}")
        con.execute(
            f"""COPY (SELECT CASE WHEN pid IS NULL THEN {SHARED_BUCKET}
                                  ELSE (hash(pid) % {buckets})::INTEGER END AS bucket,
                             pid, {_TYPE_RANK} AS rank, rtype, rid, medication, resource
                      FROM src)
                TO '{where}'
                (FORMAT parquet, PARTITION_BY (bucket), FILENAME_PATTERN 'lines_{{i}}')"""
        )
        shared = root / f"bucket={SHARED_BUCKET}"
        unrouted: dict[str, int] = {}
        attached = 0
        if shared.exists():
            unrouted = dict(
                con.execute(
                    "SELECT coalesce(rtype, '(no resourceType)'), count(*) "
                    f"FROM read_parquet('{where}/bucket={SHARED_BUCKET}/*.parquet') "
                    "GROUP BY 1 ORDER BY 1"
                ).fetchall()
            )
            if unrouted.get("Medication"):
                attached = _attach_shared_medications(con, root)
        patients = con.execute(
            f"SELECT count(DISTINCT pid) FROM read_parquet('{where}/*/*.parquet')"
        ).fetchone()
    except duckdb.Error as exc:
        raise InputError(
            f"cannot read the export: {_first_line(str(exc))}", where=str(export.folder)
        ) from None
    finally:
        con.close()
    return Grouped(root, buckets, int(patients[0]) if patients else 0, unrouted, attached)


def _attach_shared_medications(con: Any, root: Path) -> int:
    """Copy each referenced shared Medication into the bucket of every patient naming it;
    how many copies were made. Every Medication with that id is copied: the reader
    reads identical copies once and sets differing ones aside, as in a Bundle."""
    where = _sql_text(str(root))
    wanted = f"""
        SELECT DISTINCT bucket, pid, medication
        FROM read_parquet('{where}/*/*.parquet', hive_partitioning = true)
        WHERE pid IS NOT NULL AND medication IS NOT NULL
    """
    medications = f"""
        SELECT 'Medication/' || rid AS medication, resource
        FROM read_parquet('{where}/bucket={SHARED_BUCKET}/*.parquet')
        WHERE rtype = 'Medication' AND rid IS NOT NULL
    """
    copies = f"""
        SELECT w.bucket, w.pid, 1 AS rank, 'Medication' AS rtype, NULL::VARCHAR AS rid,
               NULL::VARCHAR AS medication, m.resource
        FROM ({wanted}) w JOIN ({medications}) m USING (medication)
    """
    con.execute(
        f"""COPY ({copies}) TO '{where}'
            (FORMAT parquet, PARTITION_BY (bucket), FILENAME_PATTERN 'shared_{{i}}',
             OVERWRITE_OR_IGNORE true)"""
    )
    if not any(root.glob("*/shared_*.parquet")):
        return 0
    count = con.execute(f"SELECT count(*) FROM read_parquet('{where}/*/shared_*.parquet')")
    return int(count.fetchone()[0])


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def bucket_patients(path: Path) -> Iterator[tuple[str, list[str]]]:
    """The patients of one bucket with their lines, the Patient first, in a fixed order."""
    if not path.exists():
        return
    import pyarrow.parquet as pq

    data = pq.read_table(path, columns=["pid", "rank", "resource"])
    data = data.sort_by([("pid", "ascending"), ("rank", "ascending"), ("resource", "ascending")])
    pids = data.column("pid").to_pylist()
    lines = data.column("resource").to_pylist()
    start = 0
    for index in range(1, len(pids) + 1):
        if index == len(pids) or pids[index] != pids[start]:
            yield pids[start], lines[start:index]
            start = index
