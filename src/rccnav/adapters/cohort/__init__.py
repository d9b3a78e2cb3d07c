"""Cohort analytics over FHIR Bulk Data exports (``rccnav cohort ...``, extra ``cohort``).

``synth`` writes a synthetic export, ``group`` routes an export's lines to patients
with DuckDB, ``patient`` assesses one patient with the same reader and ``assess`` as
the CLI, ``engine_local`` / ``engine_spark`` run that over every patient, ``output``
writes the rows, ``report`` and ``diff`` read them, ``export`` downloads an export.
"""
