"""``rccnav cohort report``: one self-contained HTML page about an assessed cohort.

Plots are drawn with matplotlib (Agg) and embedded as inline SVG: no script, no CDN,
nothing fetched when the page is opened. Survival statistics come from lifelines.

Survival as read from FHIR (see docs/cohort.md): time runs from the assessment date
(with ``--at first-line-start``, the day before the first line) to
``Patient.deceasedDateTime`` (an event) or else to the last date any resource of the
record carries (censored). Patients whose record ends on or before the assessment
date are left out of the survival analysis and counted.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rccnav.adapters.errors import InputError

GROUPS = ("favorable", "intermediate", "poor")
GROUP_RANK = {"favorable": 0, "intermediate": 1, "poor": 2}
FACTOR_LABELS = {
    "imdc_performance_status": "Performance status (KPS < 80)",
    "imdc_time_to_treatment": "Diagnosis to treatment < 1 year",
    "imdc_hemoglobin": "Hemoglobin < LLN",
    "imdc_calcium": "Corrected calcium > ULN",
    "imdc_neutrophils": "Neutrophils > ULN",
    "imdc_platelets": "Platelets > ULN",
    "mskcc_calcium": "Corrected calcium > 10 mg/dL (MSKCC)",
    "mskcc_ldh": "LDH > 1.5 x ULN (MSKCC)",
}
DAYS_PER_MONTH = 365.25 / 12
COLORS = {"favorable": "#1b7837", "intermediate": "#e08214", "poor": "#b2182b"}


@dataclass(frozen=True)
class Median:
    group: str
    patients: int
    deaths: int
    months: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Survival:
    medians: tuple[Median, ...]
    logrank_p: float | None
    c_imdc: float | None
    c_mskcc: float | None
    c_both_patients: int
    c_imdc_same: float | None
    c_mskcc_same: float | None
    excluded: int
    curves: dict[str, list[tuple[float, float]]]


def load_rows(folder: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    path = folder / "patients.parquet"
    if not path.exists():
        raise InputError(
            "no patients.parquet: run `rccnav cohort assess` into it first", where=str(folder)
        )
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


def _months(row: dict[str, Any]) -> tuple[float, bool] | None:
    start: date | None = row.get("assessed_on")
    death: date | None = row.get("death_date")
    last: date | None = row.get("last_contact")
    end = death or last
    if start is None or end is None or end <= start:
        return None
    return (end - start).days / DAYS_PER_MONTH, death is not None


def _finite(value: Any) -> float | None:
    number = float(value)
    return None if number != number or number in (float("inf"), float("-inf")) else number


def survival(rows: list[dict[str, Any]]) -> Survival | None:
    """Kaplan-Meier by IMDC group, log-rank across groups, Harrell's C of IMDC and MSKCC."""
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test
    from lifelines.utils import concordance_index, median_survival_times

    timed = [
        (row, t) for row in rows if row["status"] == "assessed" if (t := _months(row)) is not None
    ]
    excluded = sum(1 for row in rows if row["status"] == "assessed") - len(timed)
    if not any(event for _row, (_t, event) in timed):
        return None
    medians = []
    curves: dict[str, list[tuple[float, float]]] = {}
    by_group: dict[str, list[tuple[float, bool]]] = {}
    for row, t in timed:
        if row["imdc_group"] is not None:
            by_group.setdefault(row["imdc_group"], []).append(t)
    for group in GROUPS:
        data = by_group.get(group, [])
        if not data:
            continue
        kmf = KaplanMeierFitter().fit([t for t, _e in data], [e for _t, e in data])
        ci = median_survival_times(kmf.confidence_interval_)
        medians.append(
            Median(
                group,
                len(data),
                sum(e for _t, e in data),
                _finite(kmf.median_survival_time_),
                _finite(ci.iloc[0, 0]),
                _finite(ci.iloc[0, 1]),
            )
        )
        frame = kmf.survival_function_
        curves[group] = list(zip(frame.index.tolist(), frame.iloc[:, 0].tolist(), strict=True))
    grouped = [(row, t) for row, t in timed if row["imdc_group"] is not None]
    logrank = None
    if len({row["imdc_group"] for row, _t in grouped}) > 1:
        test = multivariate_logrank_test(
            [t for _r, (t, _e) in grouped],
            [row["imdc_group"] for row, _t in grouped],
            [e for _r, (_t, e) in grouped],
        )
        logrank = float(test.p_value)

    def c_index(pairs: list[tuple[dict[str, Any], tuple[float, bool]]], model: str) -> float | None:
        scored = [
            (GROUP_RANK[row[f"{model}_group"]], t, e)
            for row, (t, e) in pairs
            if row[f"{model}_group"] is not None
        ]
        if len({s for s, _t, _e in scored}) < 2 or not any(e for _s, _t, e in scored):
            return None
        # A higher risk group predicts shorter survival: the score is minus the rank.
        return float(
            concordance_index(
                [t for _s, t, _e in scored],
                [-s for s, _t, _e in scored],
                [e for _s, _t, e in scored],
            )
        )

    both = [
        (row, t)
        for row, t in timed
        if row["imdc_group"] is not None and row["mskcc_group"] is not None
    ]
    return Survival(
        medians=tuple(medians),
        logrank_p=logrank,
        c_imdc=c_index(timed, "imdc"),
        c_mskcc=c_index(timed, "mskcc"),
        c_both_patients=len(both),
        c_imdc_same=c_index(both, "imdc"),
        c_mskcc_same=c_index(both, "mskcc"),
        excluded=excluded,
        curves=curves,
    )


# ------------------------------------------------------------------ plotting


def _svg(figure: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # The RDF metadata block names its vocabularies by URL; drop it (nothing to fetch).
    start, end = text.find("<metadata>"), text.find("</metadata>")
    if start >= 0 and end > start:
        text = text[:start] + text[end + len("</metadata>") :]
    return text


def _figure(width: float = 6.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "rccnav"  # stable element ids
    matplotlib.rcParams["svg.fonttype"] = "none"  # text stays text
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _bar_svg(labels: list[str], values: list[float], xlabel: str, colors: list[str]) -> str:
    figure, axis = _figure(6.0, 0.45 * len(labels) + 1.0)
    axis.barh(labels[::-1], values[::-1], color=colors[::-1])
    axis.set_xlabel(xlabel)
    axis.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _km_svg(curves: dict[str, list[tuple[float, float]]]) -> str:
    figure, axis = _figure(6.5, 3.8)
    for group in GROUPS:
        points = curves.get(group)
        if points:
            axis.step(
                [p[0] for p in points],
                [p[1] for p in points],
                where="post",
                label=group,
                color=COLORS[group],
            )
    axis.set_xlabel("months from assessment")
    axis.set_ylabel("proportion alive")
    axis.set_ylim(0, 1.02)
    axis.legend(title="IMDC group", frameon=False)
    axis.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


# ------------------------------------------------------------------ sections


def _regimen(regimen_id: str | None) -> str:
    """The regimen as clinicians name it (knowledge base), e.g. pembrolizumab + axitinib."""
    if regimen_id is None:
        return "-"
    from rccnav.knowledge.loader import default_knowledge_base

    regimen = default_knowledge_base().regimens.get(regimen_id)
    if regimen is not None:
        return regimen.name
    return regimen_id.replace("+", " + ").replace("-", " ")


def _words(code: str | None) -> str:
    return "-" if code is None else code.replace("-", " ")


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _table(head: list[str], body: list[list[Any]]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in body
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{rows}</tbody></table>"


def _groups_section(assessed: list[dict[str, Any]]) -> str:
    counts = Counter(row["imdc_group"] or "undetermined" for row in assessed)
    labels = [*GROUPS, "undetermined"]
    values = [counts.get(label, 0) for label in labels]
    colors = [COLORS.get(label, "#888888") for label in labels]
    bars = _bar_svg(labels, [float(v) for v in values], "patients", colors)
    table = _table(
        ["IMDC group", "patients", "share"],
        [[label, n, _pct(n, len(assessed))] for label, n in zip(labels, values, strict=True)],
    )
    cross = Counter(
        (row["imdc_group"] or "undetermined", row["mskcc_group"] or "undetermined")
        for row in assessed
    )
    cross_rows = [[imdc, *[cross.get((imdc, m), 0) for m in labels]] for imdc in labels]
    return (
        "<h2>Risk groups</h2>"
        "<p>IMDC group at assessment; <em>undetermined</em> means unknown factors leave more "
        "than one group possible.</p>"
        f"<div class='plot'>{bars}</div>{table}"
        "<h3>IMDC (rows) by MSKCC (columns)</h3>" + _table(["IMDC \\ MSKCC", *labels], cross_rows)
    )


def _missing_section(assessed: list[dict[str, Any]]) -> str:
    labels, values, body = [], [], []
    for column, label in FACTOR_LABELS.items():
        unknown = sum(1 for row in assessed if row[column] == "unknown")
        labels.append(label)
        values.append(100 * unknown / len(assessed) if assessed else 0.0)
        body.append([label, unknown, _pct(unknown, len(assessed))])
    undetermined = sum(1 for row in assessed if row["imdc_group"] is None)
    bars = _bar_svg(
        labels, values, "% of assessed patients with the factor unknown", ["#5e3c99"] * len(labels)
    )
    return (
        "<h2>Missing data</h2>"
        f"<p>{undetermined} of {len(assessed)} assessed patients "
        f"({_pct(undetermined, len(assessed))}) have an undetermined IMDC group. "
        "An unknown factor is never counted as normal.</p>"
        f"<div class='plot'>{bars}</div>" + _table(["factor", "unknown", "share"], body)
    )


def _recommendation_section(assessed: list[dict[str, Any]]) -> str:
    preferred = Counter(regimen for row in assessed for regimen in (row["preferred"] or []))
    lines = Counter(row["line"] for row in assessed)
    cn = Counter(row["cn"] for row in assessed)
    mets = Counter(row["metastasectomy"] for row in assessed)
    depends = sum(1 for row in assessed if row["depends_on_unknown_risk"])
    return (
        "<h2>Recommendations</h2>"
        + _table(["line of therapy", "patients"], [[k, v] for k, v in sorted(lines.items())])
        + "<h3>Regimens listed as preferred</h3>"
        + _table(
            ["regimen", "patients", "share"],
            [[_regimen(k), v, _pct(v, len(assessed))] for k, v in preferred.most_common()],
        )
        + f"<p>{depends} patients' regimen list depends on unknown risk factors.</p>"
        + "<h3>Cytoreductive nephrectomy</h3>"
        + _table(["recommendation", "patients"], [[_words(k), v] for k, v in cn.most_common()])
        + "<h3>Metastasectomy</h3>"
        + _table(["recommendation", "patients"], [[_words(k), v] for k, v in mets.most_common()])
    )


def _concordance_section(assessed: list[dict[str, Any]]) -> str:
    rated = [row for row in assessed if row["first_line_concordance"] is not None]
    if not rated:
        return (
            "<h2>First-line therapy against the recommendation</h2><p>Not available: assess "
            "with <code>--at first-line-start</code> to compare the first line received "
            "with the recommendation of that day.</p>"
        )
    categories = ("preferred", "other", "not listed")
    body = []
    for group in [*GROUPS, None]:
        members = [row for row in rated if row["imdc_group"] == group]
        counts = Counter(row["first_line_concordance"] for row in members)
        body.append(
            [
                group or "undetermined",
                len(members),
                *[
                    f"{counts.get(c, 0)} ({_pct(counts.get(c, 0), len(members))})"
                    for c in categories
                ],
            ]
        )
    overall = Counter(row["first_line_concordance"] for row in rated)
    body.append(
        [
            "all",
            len(rated),
            *[f"{overall.get(c, 0)} ({_pct(overall.get(c, 0), len(rated))})" for c in categories],
        ]
    )
    received = Counter((row["first_line_regimen"], row["first_line_concordance"]) for row in rated)
    return (
        "<h2>First-line therapy against the recommendation</h2>"
        "<p>The first line each patient received, placed in the recommendation for the "
        "patient's data on the day before it started: <em>preferred</em>, <em>other</em> "
        "(other or useful in certain circumstances) or <em>not listed</em>.</p>"
        + _table(["IMDC group", "patients", *categories], body)
        + "<h3>By regimen received</h3>"
        + _table(
            ["regimen", "category", "patients"],
            [[_regimen(r), c, n] for (r, c), n in received.most_common()],
        )
    )


def _fmt(value: float | None, digits: int = 1) -> str:
    return "not reached" if value is None else f"{value:.{digits}f}"


def _survival_section(rows: list[dict[str, Any]]) -> str:
    result = survival(rows)
    if result is None:
        return (
            "<h2>Survival</h2><p>Not available: no death "
            "(<code>Patient.deceasedDateTime</code>) is recorded after an assessment date."
            "</p>"
        )
    body = [
        [m.group, m.patients, m.deaths, _fmt(m.months), f"{_fmt(m.low)} to {_fmt(m.high)}"]
        for m in result.medians
    ]
    p = "-" if result.logrank_p is None else f"{result.logrank_p:.2g}"
    c_rows = [
        ["IMDC", "all patients with a determined group", _fmt(result.c_imdc, 3)],
        ["MSKCC", "all patients with a determined group", _fmt(result.c_mskcc, 3)],
        [
            "IMDC",
            f"the {result.c_both_patients} patients with both groups",
            _fmt(result.c_imdc_same, 3),
        ],
        [
            "MSKCC",
            f"the {result.c_both_patients} patients with both groups",
            _fmt(result.c_mskcc_same, 3),
        ],
    ]
    return (
        "<h2>Survival by IMDC group</h2>"
        "<p>Kaplan-Meier estimate from the assessment date to death "
        "(<code>Patient.deceasedDateTime</code>), censored at the last dated item of the "
        f"record. {result.excluded} assessed patients whose record ends on or before the "
        "assessment date are left out.</p>"
        f"<div class='plot'>{_km_svg(result.curves)}</div>"
        + _table(["IMDC group", "patients", "deaths", "median OS (months)", "95% CI"], body)
        + f"<p>Log-rank test across IMDC groups: p = {html.escape(p)}.</p>"
        + "<h3>Discrimination (Harrell's C)</h3>"
        + _table(["model", "patients", "C-index"], c_rows)
        + "<p>Published for comparison: IMDC three-group C-index 0.664 in the 2013 external "
        "validation (Heng et al., Lancet Oncol 2013).</p>"
    )


def _feedback_section(path: Path | None) -> str:
    if path is None:
        return ""
    if not path.is_file():
        raise InputError("no such feedback store", where=str(path))
    import sqlite3

    from rccnav.adapters.service.feedback import FeedbackStore, StorageError

    try:
        store = FeedbackStore(path)
        try:
            report = store.report()
        finally:
            store.close()
    except (StorageError, sqlite3.DatabaseError) as exc:
        raise InputError(f"not a usable CDS Hooks feedback store: {exc}", where=str(path)) from None
    summaries = report.by_card_type
    return (
        "<h2>Clinician feedback on the CDS Hooks cards</h2>"
        + f"<p>{report.records} feedback records on {report.cards_issued} cards issued.</p>"
        + _table(
            ["card", "accepted", "overridden"],
            [[s.card_type, s.accepted, s.overridden] for s in summaries],
        )
        + "<h3>Override reasons</h3>"
        + _table(
            ["card", "reason", "times"],
            [
                [s.card_type, reason, n]
                for s in summaries
                for reason, n in sorted(s.override_reasons.items(), key=lambda kv: -kv[1])
            ],
        )
    )


_STYLE = """
body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccc;
padding:.25rem .6rem;text-align:left}th{background:#f3f3f3}.plot svg{max-width:100%;
height:auto}.note{color:#555;font-size:.9rem}
"""


def render(rows: list[dict[str, Any]], feedback: Path | None = None) -> str:
    assessed = [row for row in rows if row["status"] == "assessed"]
    unusable = Counter(
        row["reason"].split(": ", 1)[-1]
        for row in rows
        if row["status"] != "assessed" and row["reason"]
    )
    versions = sorted({row["kb_version"] for row in rows if row["kb_version"]})
    dates = sorted(row["assessed_on"] for row in assessed if row["assessed_on"])
    span = f"{dates[0]} to {dates[-1]}" if dates else "-"
    summary = (
        f"<p>{len(rows)} patients: {len(assessed)} assessed, {len(rows) - len(assessed)} "
        f"could not be assessed. Assessment dates {span}. Knowledge base "
        f"{', '.join(versions) or '-'}.</p>"
    )
    if unusable:
        summary += "<h3>Why patients could not be assessed</h3>" + _table(
            ["reason", "patients"], [[r, n] for r, n in unusable.most_common(15)]
        )
    sections = [summary]
    if assessed:
        sections += [
            _groups_section(assessed),
            _missing_section(assessed),
            _recommendation_section(assessed),
            _concordance_section(assessed),
            _survival_section(rows),
        ]
    sections.append(_feedback_section(feedback))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>rccnav cohort report</title>"
        f"<style>{_STYLE}</style></head><body><h1>Cohort report</h1>"
        + "".join(sections)
        + "<p class='note'>Decision support only: not a substitute for clinical judgement."
        "</p></body></html>\n"
    )


def write_report(folder: Path, output: Path, feedback: Path | None = None) -> None:
    text = render(load_rows(folder), feedback)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InputError(
            f"cannot write the report: {exc.strerror or exc}", where=str(output)
        ) from None
