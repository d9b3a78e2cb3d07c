"""Merge the per-bucket parts into ``patients.parquet`` and ``patients.csv`` (DuckDB).

Rows are ordered by ``patient_id`` so the same input gives byte-for-byte the same
rows whatever engine, worker count or resumption produced the parts. In the CSV,
list columns are joined with ``;`` (regimen ids and warning codes contain none).
"""

from __future__ import annotations

import os
from pathlib import Path

from rccnav.adapters.cohort.patient import SCHEMA

LIST_COLUMNS = tuple(field.name for field in SCHEMA if str(field.type).startswith("list"))


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def write_outputs(parts: Path, out: Path) -> dict[str, int]:
    import duckdb

    out.mkdir(parents=True, exist_ok=True)
    if not any(parts.glob("part-*.parquet")):  # an export without a single patient
        import pyarrow.parquet as pq

        parts.mkdir(parents=True, exist_ok=True)
        pq.write_table(SCHEMA.empty_table(), parts / "part-empty.parquet")
    parquet = out / "patients.parquet"
    csv = out / "patients.csv"
    con = duckdb.connect()
    try:
        con.execute("SET threads = 2")
        con.execute(
            f"CREATE TEMP VIEW rows AS SELECT * FROM read_parquet('{_quote(parts)}/part-*.parquet')"
            " ORDER BY patient_id"
        )
        tmp_parquet = parquet.with_suffix(".parquet.tmp")
        con.execute(f"COPY rows TO '{_quote(tmp_parquet)}' (FORMAT parquet)")
        joined = ", ".join(f"array_to_string({c}, ';') AS {c}" for c in LIST_COLUMNS)
        tmp_csv = csv.with_suffix(".csv.tmp")
        con.execute(
            f"COPY (SELECT * REPLACE ({joined}) FROM rows) TO '{_quote(tmp_csv)}' "
            "(FORMAT csv, HEADER true)"
        )
        counts = dict(con.execute("SELECT status, count(*) FROM rows GROUP BY 1").fetchall())
    finally:
        con.close()
    os.replace(tmp_parquet, parquet)
    os.replace(tmp_csv, csv)
    return {**{str(k): int(v) for k, v in counts.items()}, "total": sum(counts.values())}
