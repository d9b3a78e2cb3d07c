"""HTML for the clinician page and the tumour-board summary, from an Assessment.

Templates only arrange what ``assess`` returned; wording that is not in the
Assessment (section titles, labels of factor names) lives here, and no template
decides anything clinical.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources

import jinja2

from rccnav import __version__
from rccnav.adapters.render.document import DISCLAIMER, label, sorted_warnings, source_label
from rccnav.adapters.render.wording import display_units, plain_words, provenance
from rccnav.adapters.web.chart import SurvivalChart, survival_chart
from rccnav.adapters.web.form import form_sections
from rccnav.core.assessment import Assessment, Factor, LocalMeasure, RiskResult, TherapyOption
from rccnav.knowledge.model import KnowledgeBase

FACTOR_LABELS = {
    "performance_status": "Performance status (KPS < 80)",
    "time_to_treatment": "Diagnosis to treatment < 1 year",
    "hemoglobin": "Hemoglobin < lower limit",
    "calcium": "Corrected calcium high",
    "neutrophils": "Neutrophils > upper limit",
    "platelets": "Platelets > upper limit",
    "ldh": "LDH > 1.5 × upper limit",
}

STATUS_LABELS = {"present": "present", "absent": "absent", "unknown": "unknown"}

_CITATION_NUMBER = re.compile(r"^\[\w+\]\s*")


@dataclass(frozen=True)
class Reference:
    number: int
    source_id: str
    citation: str
    url: str | None


@dataclass
class References:
    """Sources numbered in order of first citation, for one rendered document."""

    kb: KnowledgeBase
    order: dict[str, int] = field(default_factory=dict)

    def cite(self, source_ids: Iterable[str]) -> list[Reference]:
        refs = []
        for source_id in source_ids:
            number = self.order.setdefault(source_id, len(self.order) + 1)
            refs.append(self._reference(source_id, number))
        return refs

    def _reference(self, source_id: str, number: int) -> Reference:
        source = self.kb.sources.get(source_id)
        if source is None:
            return Reference(number, source_id, source_id, None)
        return Reference(number, source_id, _CITATION_NUMBER.sub("", source.citation), source.url)

    def listed(self) -> list[Reference]:
        return [self._reference(s, n) for s, n in self.order.items()]


def group_text(result: RiskResult) -> str:
    if result.risk_group is not None:
        return result.risk_group
    return "undetermined (possible: " + ", ".join(result.possible_groups) + ")"


def factor_count(result: RiskResult) -> str:
    total = len(result.factors)
    if result.factor_count_min == result.factor_count_max:
        return f"{result.factor_count_min} of {total} factors present"
    return f"{result.factor_count_min}–{result.factor_count_max} of {total} factors present"


def missing_effect(could_change_group: bool, could_change_regimens: bool) -> str:
    if could_change_regimens:
        return "could change the risk group and the recommended regimens"
    if could_change_group:
        return "could change the risk group"
    return "would not change the group"


def review_statuses(assessment: Assessment) -> dict[str, int]:
    """How many listed therapy options and survival figures carry each review status."""
    counts: dict[str, int] = {}
    statuses = [o.review_status for o in assessment.systemic_therapy.options]
    statuses += [s.review_status for s in (*assessment.imdc.survival, *assessment.mskcc.survival)]
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def options_in(assessment: Assessment, category: str) -> list[TherapyOption]:
    therapy = assessment.systemic_therapy
    ids = {
        "preferred": therapy.preferred,
        "other": therapy.other,
        "certain-circumstances": therapy.certain_circumstances,
    }[category]
    by_id = {o.regimen: o for o in therapy.options}
    return [by_id[i] for i in ids if i in by_id]


def regimen_name(kb: KnowledgeBase, regimen: str) -> str:
    known = kb.regimens.get(regimen) or kb.non_drug_options.get(regimen)
    return known.name if known is not None else regimen


def clinical(kb: KnowledgeBase, text: str) -> str:
    """Prose from the core in clinical words: units as printed on a lab report, and no
    table, case-file field or regimen ids (the same wording as the text report)."""
    return plain_words(display_units(text), kb)


def _provenance(factor: Factor, kb: KnowledgeBase) -> str:
    return provenance(factor.name, factor.source, factor.observed_on, kb)


URGENCY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}


def by_urgency(measures: Iterable[LocalMeasure]) -> list[LocalMeasure]:
    return sorted(measures, key=lambda m: URGENCY_ORDER.get(m.urgency, 3))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rccnav.adapters.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        label=label,
        group_text=group_text,
        factor_count=factor_count,
        missing_effect=missing_effect,
        factor_label=lambda name: FACTOR_LABELS.get(name, name.replace("_", " ")),
        options_in=options_in,
        sorted_warnings=sorted_warnings,
        by_urgency=by_urgency,
        disclaimer=DISCLAIMER,
        version=__version__,
    )
    return env


def static_text(name: str) -> str:
    return resources.files("rccnav.adapters.web").joinpath("static", name).read_text("utf-8")


@dataclass(frozen=True)
class Views:
    kb: KnowledgeBase

    def _context(self, assessment: Assessment) -> dict[str, object]:
        chart: SurvivalChart = survival_chart(assessment, self.kb)
        return {
            "a": assessment,
            "refs": References(self.kb),
            "kb": self.kb,
            "chart": chart,
            "regimen_name": lambda r: regimen_name(self.kb, r),
            "clinical": lambda text: clinical(self.kb, text),
            "source_label": lambda source: source_label(source, self.kb),
            "provenance": lambda f: _provenance(f, self.kb),
            "statuses": review_statuses(assessment),
        }

    def results(self, assessment: Assessment) -> str:
        return environment().get_template("results.html").render(self._context(assessment))

    def summary(self, assessment: Assessment, printed: date | None = None) -> str:
        context = self._context(assessment)
        context["printed"] = printed or date.today()
        return environment().get_template("summary.html").render(context)

    def report(self, assessment: Assessment, printed: date | None = None) -> str:
        """The summary as a standalone HTML file (styles inline: it opens from disk)."""
        return (
            environment()
            .get_template("report.html")
            .render(
                summary=self.summary(assessment, printed),
                css=static_text("web.css"),
                on=assessment.on,
            )
        )

    def page(self, assessment: Assessment, today: date) -> str:
        return (
            environment()
            .get_template("page.html")
            .render(
                sections=form_sections(),
                results=self.results(assessment),
                summary=self.summary(assessment),
                today=today.isoformat(),
            )
        )
