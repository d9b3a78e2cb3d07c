"""One patient of a cohort: the same reader and ``assess`` as ``rccnav assess``, as one row.

Both engines (local and Spark) call :func:`assess_patient` with the patient's NDJSON
lines; nothing clinical happens anywhere else. The row's columns are listed in
:data:`COLUMNS` (documented in docs/cohort.md); every value that also appears in
``rccnav assess --format json`` is copied from the same Assessment, unchanged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import orjson
import pyarrow as pa

from rccnav import __version__
from rccnav.adapters.errors import InputError
from rccnav.adapters.fhir.bundle import index_resources
from rccnav.adapters.fhir.reader import read_index
from rccnav.adapters.fhir.values import parse_date
from rccnav.adapters.intake import Intake, assess_input
from rccnav.core.assessment import Assessment, RiskResult
from rccnav.core.case import Case, TherapySetting
from rccnav.knowledge.loader import default_knowledge_base, load_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

IMDC_FACTORS = (
    "performance_status",
    "time_to_treatment",
    "hemoglobin",
    "calcium",
    "neutrophils",
    "platelets",
)
MSKCC_FACTORS = ("performance_status", "time_to_treatment", "hemoglobin", "calcium", "ldh")

_STR = pa.string()
_LIST = pa.list_(pa.string())
SCHEMA = pa.schema(
    [
        ("patient_id", _STR),
        ("status", _STR),
        ("reason", _STR),
        ("assessed_on", pa.date32()),
        ("imdc_group", _STR),
        ("imdc_possible", _LIST),
        ("imdc_factors_min", pa.int16()),
        ("imdc_factors_max", pa.int16()),
        *[(f"imdc_{name}", _STR) for name in IMDC_FACTORS],
        ("mskcc_group", _STR),
        ("mskcc_possible", _LIST),
        *[(f"mskcc_{name}", _STR) for name in MSKCC_FACTORS],
        ("line", pa.int16()),
        ("preferred", _LIST),
        ("other", _LIST),
        ("certain_circumstances", _LIST),
        ("depends_on_unknown_risk", pa.bool_()),
        ("cn", _STR),
        ("metastasectomy", _STR),
        ("active_surveillance", _STR),
        ("warnings", _LIST),
        ("data_quality_warnings", pa.int32()),
        ("ignored_items", pa.int32()),
        ("resources_used", pa.int32()),
        ("resources_unused", pa.int32()),
        ("histology", _STR),
        ("first_line_regimen", _STR),
        ("first_line_start", pa.date32()),
        ("first_line_concordance", _STR),
        ("death_date", pa.date32()),
        ("last_contact", pa.date32()),
        ("kb_version", _STR),
        ("kb_checksum", _STR),
        ("rccnav_version", _STR),
    ]
)
COLUMNS = tuple(SCHEMA.names)

Concordance = Literal["preferred", "other", "not listed"]


@dataclass(frozen=True)
class Options:
    """How every patient is assessed (picklable: it travels to worker processes)."""

    on: date | None = None
    at_first_line_start: bool = False
    kb_path: Path | None = None
    today: date = dataclasses.field(default_factory=date.today)

    def fingerprint(self, kb: KnowledgeBase) -> dict[str, str]:
        when = "first-line-start" if self.at_first_line_start else str(self.on or self.today)
        return {"at": when, "kb": kb.checksum, "rccnav": __version__}


@lru_cache(maxsize=4)
def knowledge_base(path: Path | None) -> KnowledgeBase:
    return load_knowledge_base(path) if path else default_knowledge_base()


def _empty_row(patient_id: str, kb: KnowledgeBase) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(
        patient_id=patient_id,
        kb_version=kb.version,
        kb_checksum=kb.checksum,
        rccnav_version=__version__,
    )
    return row


def _factor_statuses(result: RiskResult, names: Iterable[str], prefix: str) -> dict[str, str]:
    by_name = {factor.name: factor.status for factor in result.factors}
    return {f"{prefix}_{name}": by_name.get(name, "not scored") for name in names}


def _first_line(case: Case) -> tuple[str, date] | None:
    """The first metastatic line the record shows, as a regimen id and its start."""
    lines = [
        therapy
        for therapy in case.prior_therapies
        if therapy.setting == TherapySetting.METASTATIC and therapy.start is not None
    ]
    if not lines:
        return None
    first = min(lines, key=lambda therapy: therapy.start or date.max)
    assert first.start is not None
    return "+".join(sorted(first.agents)), first.start


def concordance(regimen: str, assessment: Assessment) -> Concordance:
    """Where the regimen stands in the recommendation: preferred, other or not listed."""
    therapy = assessment.systemic_therapy
    if regimen in therapy.preferred:
        return "preferred"
    if regimen in therapy.other or regimen in therapy.certain_circumstances:
        return "other"
    return "not listed"


_DATE_KEYS = (
    "effectiveDateTime",
    "effectiveInstant",
    "performedDateTime",
    "onsetDateTime",
    "recordedDate",
    "authoredOn",
    "issued",
    "deceasedDateTime",
)
_PERIOD_KEYS = ("effectivePeriod", "performedPeriod", "period")


def follow_up(resources: Iterable[dict[str, Any]]) -> tuple[date | None, date | None]:
    """Death (``Patient.deceasedDateTime``) and the last dated event in the record.

    The last contact is the latest date any resource carries (observations, encounters,
    procedures, administrations, the death itself); it is what censors a survivor.
    FHIR dates and dateTimes start with the ISO date, so the latest is found by
    comparing their first ten characters and only that one is parsed.
    """
    death: date | None = None
    latest = ""
    for resource in resources:
        get = resource.get
        if get("resourceType") == "Patient":
            found = parse_date(get("deceasedDateTime"))
            death = found.day if found else None
        for key in _DATE_KEYS:
            value = get(key)
            if type(value) is str and value[:10] > latest[:10] and parse_date(value):
                latest = value
        for key in _PERIOD_KEYS:
            period = get(key)
            if type(period) is dict:
                for value in (period.get("start"), period.get("end")):
                    if type(value) is str and value[:10] > latest[:10] and parse_date(value):
                        latest = value
    parsed = parse_date(latest) if latest else None
    return death, parsed.day if parsed else None


def _read(resources: list[Any], name: str, on: date, kb: KnowledgeBase) -> Intake:
    """The FHIR reader on already-decoded NDJSON lines: what ``read_input`` does with the
    same lines as bytes, without decoding them a second time."""
    index = index_resources(resources, "fhir-ndjson", name, label="line")
    return read_index(index, name=name, on=on, lookback_days=None, kb=kb)


def assess_patient(patient_id: str, lines: list[str], options: Options) -> dict[str, Any]:
    """Assess one patient's resources (NDJSON lines); a row, never an exception."""
    kb = knowledge_base(options.kb_path)
    row = _empty_row(patient_id, kb)
    name = f"patient {patient_id}"
    try:
        resources = [orjson.loads(line) for line in lines]
        row["death_date"], row["last_contact"] = follow_up(resources)
        first_line: tuple[str, date] | None = None
        if options.at_first_line_start:
            whole = _read(resources, name, options.today, kb)
            first_line = _first_line(whole.case)
            if first_line is None:
                row.update(status="unusable", reason="no first line of metastatic therapy recorded")
                return row
            # The decision was taken the day before the first dose: that day's data only.
            on = first_line[1] - timedelta(days=1)
        else:
            on = options.on or options.today
        intake = _read(resources, name, on, kb)
        assessment = assess_input(intake, kb, on)
        if first_line is None:
            first_line = _first_line(intake.case)
    except InputError as exc:
        row.update(status="unusable", reason=str(exc))
        return row
    except orjson.JSONDecodeError:
        row.update(status="unusable", reason="a line of this patient's data is not JSON")
        return row
    except Exception as exc:  # one bad record must not stop a cohort run
        row.update(status="error", reason=f"internal error ({type(exc).__name__})")
        return row
    row.update(_assessment_columns(assessment, intake.case))
    if first_line is not None:
        row["first_line_regimen"], row["first_line_start"] = first_line
        if options.at_first_line_start:
            row["first_line_concordance"] = concordance(first_line[0], assessment)
    return row


def _assessment_columns(assessment: Assessment, case: Case) -> dict[str, Any]:
    therapy = assessment.systemic_therapy
    summary = assessment.input_summary
    return {
        "status": "assessed",
        "assessed_on": assessment.on,
        "imdc_group": assessment.imdc.risk_group,
        "imdc_possible": list(assessment.imdc.possible_groups),
        "imdc_factors_min": assessment.imdc.factor_count_min,
        "imdc_factors_max": assessment.imdc.factor_count_max,
        **_factor_statuses(assessment.imdc, IMDC_FACTORS, "imdc"),
        "mskcc_group": assessment.mskcc.risk_group,
        "mskcc_possible": list(assessment.mskcc.possible_groups),
        **_factor_statuses(assessment.mskcc, MSKCC_FACTORS, "mskcc"),
        "line": therapy.line,
        "preferred": list(therapy.preferred),
        "other": list(therapy.other),
        "certain_circumstances": list(therapy.certain_circumstances),
        "depends_on_unknown_risk": therapy.depends_on_unknown_risk,
        "cn": assessment.cytoreductive_nephrectomy.recommendation,
        "metastasectomy": assessment.metastasectomy.recommendation,
        "active_surveillance": assessment.active_surveillance.recommendation,
        "warnings": [warning.code for warning in assessment.warnings],
        "data_quality_warnings": sum(1 for w in assessment.warnings if w.code == "data-quality"),
        "ignored_items": len(assessment.ignored_data),
        "resources_used": sum(summary.used.values()) if summary else None,
        "resources_unused": sum(summary.unused.values()) if summary else None,
        "histology": case.diagnosis.histology.value if case.diagnosis.histology else None,
    }


def table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)
