"""The clinician-facing reading of an Assessment, independent of output format.

``build_document`` decides *what* a reader sees and in which order; the text and
Markdown renderers only decide how it looks. Keeping one builder means the two
formats cannot drift apart in content. Nothing here decides anything clinical: it
only arranges what ``assess`` returned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from rccnav.adapters.render.wording import (
    Citations,
    cite,
    field_label,
    provenance,
    regimen_name,
    review_note,
)
from rccnav.core.assessment import (
    Assessment,
    Decision,
    ExcludedOption,
    Factor,
    GuidelinePosition,
    RiskResult,
    SystemicTherapy,
    TherapyOption,
    Warning,
)
from rccnav.core.assessment import Reason as ReasonData
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

DISCLAIMER = (
    "rccnav is clinical decision support. It summarises published guidance for a "
    "multidisciplinary team and is not a substitute for clinical judgement; verify every "
    "item against the patient's record and the cited sources."
)

SEVERITY_ORDER = {"critical": 0, "warning": 1, "info": 2}

RECOMMENDATION_LABELS = {
    "consider-upfront": "Consider upfront cytoreductive nephrectomy",
    "consider-deferred": "Consider deferred cytoreductive nephrectomy (after systemic therapy)",
    "not-recommended": "Not recommended",
    "not-applicable": "Not applicable",
    "consider": "Consider",
}

CATEGORY_TITLES = (
    ("preferred", "Preferred"),
    ("other", "Other recommended"),
    ("certain-circumstances", "Useful in certain circumstances"),
)


@dataclass(frozen=True)
class Item:
    """A bullet: a lead phrase, its text, and indented detail lines."""

    text: str
    lead: str = ""
    details: tuple[str, ...] = ()
    emphasis: bool = False


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Section:
    """A titled part of the document; sections nest one level (``level`` 3)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    level: int = 2

    def add(self, *blocks: Block) -> Section:
        self.blocks.extend(blocks)
        return self


Block = str | Item | Table | Section


def label(recommendation: str) -> str:
    return RECOMMENDATION_LABELS.get(recommendation, recommendation.replace("-", " ").capitalize())


def reason_line(reason: ReasonData) -> str:
    """A reason in prose: its text, its numbered sources and, when the item has not
    been checked against its primary source (or is rccnav's own choice), a note saying
    so wherever it drives advice. Rule ids stay in the JSON output."""
    parts = [reason.text]
    if reason.sources:
        parts.append(cite(reason.sources))
    status = reason.review_status
    if status and status != "verified":
        parts.append(f"({review_note(status)})")
    return " ".join(parts)


FACTOR_LABELS = {"ldh": "LDH", "hemoglobin": "haemoglobin"}


def factor_label(name: str) -> str:
    """A prognostic factor as a clinician names it (performance_status -> performance status)."""
    return FACTOR_LABELS.get(name, name.replace("_", " "))


def sorted_warnings(warnings: Iterable[Warning]) -> list[Warning]:
    return sorted(warnings, key=lambda w: SEVERITY_ORDER.get(w.severity, 3))


def source_label(source: str, kb: KnowledgeBase) -> str:
    """What a warning is about, in clinical words (FHIR resource references kept)."""
    return ", ".join(field_label(part.strip(), kb) for part in source.split(","))


def _warnings(assessment: Assessment, kb: KnowledgeBase) -> Section | None:
    if not assessment.warnings:
        return None
    section = Section("Warnings")
    for warning in sorted_warnings(assessment.warnings):
        details = []
        if warning.source:
            details.append(f"about: {source_label(warning.source, kb)}")
        if warning.sources:
            details.append(f"sources {cite(warning.sources)}")
        section.add(
            Item(
                warning.message,
                lead=f"{warning.severity.upper()} {warning.code.replace('-', ' ')}",
                details=tuple(details),
                emphasis=warning.severity == "critical",
            )
        )
    return section


def _group_summary(result: RiskResult) -> str:
    total = len(result.factors)
    if result.risk_group is not None:
        count = (
            f"{result.factor_count_min} of {total} factors present"
            if result.factor_count_min == result.factor_count_max
            else f"{result.factor_count_min}-{result.factor_count_max} of {total} factors"
        )
        return f"Risk group: {result.risk_group} ({count})"
    possible = ", ".join(result.possible_groups)
    return (
        f"Risk group: undetermined; still possible: {possible} "
        f"({result.factor_count_min}-{result.factor_count_max} of {total} factors)"
    )


def _evidence(factor: Factor, kb: KnowledgeBase) -> str:
    """The factor's evidence and, in clinical words, what it was read from and when."""
    read_from = provenance(factor.name, factor.source, factor.observed_on, kb)
    return factor.evidence + (f" ({read_from})" if read_from else "")


def risk_section(result: RiskResult, title: str, kb: KnowledgeBase | None = None) -> Section:
    kb = kb or default_knowledge_base()
    section = Section(title, level=3)
    section.add(_group_summary(result))
    rows = tuple(
        (factor_label(factor.name), factor.status, _evidence(factor, kb))
        for factor in result.factors
    )
    section.add(Table(("factor", "status", "evidence"), rows))
    for missing in result.missing:
        if missing.could_change_regimens:
            effect = "could change the risk group and the recommended regimens"
        elif missing.could_change_group:
            effect = "could change the risk group"
        else:
            effect = "would not change the group"
        section.add(
            Item(f"{missing.needed}; {effect}", lead=f"missing {factor_label(missing.factor)}")
        )
    for row in result.survival:
        section.add(
            Item(
                f"{row.median_os_months:g} months ({row.setting}, {row.cohort}) "
                f"{cite(row.sources)}; {review_note(row.review_status)}"
                + (f". Caution: {row.caveat}" if row.caveat else ""),
                lead=f"published median OS, {row.risk_group}",
            )
        )
    if result.sources:
        section.add(f"Sources {cite(result.sources)}.")
    return section


GUIDELINE_NAMES = {"nccn": "NCCN", "eau": "EAU", "esmo": "ESMO"}


def guideline_line(positions: Iterable[GuidelinePosition], disagreement: str | None) -> str | None:
    """One line per option: 'NCCN: other recommended (category 2B) · EAU: not recommended …'.

    Where the guidelines disagree the line says so first; the full statement is in the JSON.
    """
    shown = list(positions)
    if not shown:
        return None
    parts = []
    for p in shown:
        groups = f" ({' or '.join(p.risk_groups)} risk)" if p.risk_groups else ""
        parts.append(f"{GUIDELINE_NAMES[p.guideline]}{groups}: {p.text}")
    sources = dict.fromkeys(s for p in shown for s in p.sources)
    lead = "guidelines disagree — " if disagreement else "guidelines — "
    return lead + " · ".join(parts) + f" {cite(sources)}"


def _option(option: TherapyOption) -> Item:
    # The clinical name leads; the regimen id stays in the JSON output.
    details = [reason_line(r) for r in option.reasons]
    guidelines = guideline_line(option.guideline_positions, option.guideline_disagreement)
    if guidelines:
        details.insert(0, guidelines)
    if option.moved_from:
        details.insert(0, f"moved up from {option.moved_from.replace('-', ' ')}")
    if option.only_if_risk:
        details.append(f"only if the risk group is: {', '.join(option.only_if_risk)}")
    details.extend(f"caution: {c}" for c in option.cautions)
    details.append(f"sources {cite(option.sources)}; {review_note(option.review_status)}")
    return Item(option.name, details=tuple(details))


def _excluded(item: ExcludedOption, kb: KnowledgeBase) -> Item:
    guidelines = guideline_line(item.guideline_positions, item.guideline_disagreement)
    return Item(
        reason_line(item.reason),
        lead=regimen_name(item.regimen, kb),
        details=(guidelines,) if guidelines else (),
    )


def view_line(therapy: SystemicTherapy) -> str:
    if therapy.guideline_view == "all":
        return (
            "Guideline view: NCCN, EAU and ESMO merged; each option shows what each of the "
            "three guidelines says, and where they disagree."
        )
    name = GUIDELINE_NAMES[therapy.guideline_view]
    return (
        f"Guideline view: {name} only. Options and categories as {name} lists them; what "
        f"{name} does not list is under 'Not offered', with the other guidelines' positions."
    )


def _systemic(therapy: SystemicTherapy, kb: KnowledgeBase) -> Section:
    section = Section("Systemic therapy")
    section.add(f"Line {therapy.line} ({therapy.setting}).", view_line(therapy))
    if therapy.depends_on_unknown_risk:
        section.add(
            "The options depend on a risk group that is not yet determined: complete the "
            "missing prognostic items before choosing."
        )
    by_id = {o.regimen: o for o in therapy.options}
    lists = {
        "preferred": therapy.preferred,
        "other": therapy.other,
        "certain-circumstances": therapy.certain_circumstances,
    }
    for category, title in CATEGORY_TITLES:
        ids = lists[category]
        sub = Section(title, level=3)
        if not ids and category == "preferred" and therapy.no_preferred is not None:
            steps = ", ".join(regimen_name(s, kb) for s in therapy.no_preferred.next_steps)
            sub.add(
                Item(
                    reason_line(therapy.no_preferred.reason),
                    lead="No preferred option",
                    details=(f"next step: {steps}",),
                    emphasis=True,
                )
            )
        elif not ids:
            sub.add("None listed.")
        for regimen in ids:
            option = by_id.get(regimen)
            sub.add(_option(option) if option else Item(regimen_name(regimen, kb)))
        section.add(sub)
    if therapy.excluded:
        excluded = Section("Not offered for this patient", level=3)
        section.add(excluded.add(*(_excluded(e, kb) for e in therapy.excluded)))
    if therapy.reasons or therapy.tables:
        basis = Section("Basis", level=3)
        basis.add(*(Item(reason_line(reason)) for reason in therapy.reasons))
        if therapy.tables:
            # Table ids become their settings in with_references().
            basis.add(f"Guideline recommendations used: {'; '.join(therapy.tables)}.")
        section.add(basis)
    return section


def _before_treating(assessment: Assessment) -> Section | None:
    """Baseline checks and monitoring for each offered regimen (label and guidelines)."""
    if not assessment.before_treating:
        return None
    section = Section("Before treating")
    section.add(
        "Baseline checks and monitoring named by each drug's label and the toxicity "
        "guidelines, for every regimen offered above."
    )
    for regimen in assessment.before_treating:
        sub = Section(regimen.name, level=3)
        for check in regimen.checks:
            agents = f" ({', '.join(check.agents)})" if len(check.agents) > 0 else ""
            sub.add(
                Item(
                    f"{check.when}: {check.why}{agents} {cite(check.sources)}; "
                    f"{review_note(check.review_status)}",
                    lead=check.check,
                )
            )
        section.add(sub)
    return section


def _decision(title: str, decision: Decision, level: int = 2) -> Section:
    section = Section(title, level=level)
    section.add(Item(label(decision.recommendation), lead="Recommendation", emphasis=True))
    section.add(*(Item(reason_line(r)) for r in decision.reasons))
    if decision.unknowns:
        section.add(Item("; ".join(decision.unknowns), lead="Would help to know"))
    return section


def _metastasectomy(assessment: Assessment) -> Section:
    m = assessment.metastasectomy
    section = _decision(
        "Metastasectomy / local treatment of all sites",
        Decision(m.recommendation, m.reasons, m.unknowns),
    )
    adjuvant = m.adjuvant_pembrolizumab
    section.add(
        Item(
            label(adjuvant.recommendation),
            lead="Adjuvant pembrolizumab after complete resection",
            details=tuple(reason_line(r) for r in adjuvant.reasons)
            + (
                ("would help to know: " + "; ".join(adjuvant.unknowns),)
                if adjuvant.unknowns
                else ()
            ),
        )
    )
    return section


def _local(assessment: Assessment) -> Section:
    section = Section("Local therapy and palliation")
    if not assessment.local_therapy:
        section.add("No local or palliative measure is indicated by the recorded data.")
    order = {"emergency": 0, "urgent": 1, "routine": 2}
    for measure in sorted(assessment.local_therapy, key=lambda m: order.get(m.urgency, 3)):
        section.add(
            Item(
                measure.title,
                lead=measure.urgency.upper(),
                details=tuple(reason_line(r) for r in measure.reasons),
                emphasis=measure.urgency != "routine",
            )
        )
    return section


def _input(assessment: Assessment, kb: KnowledgeBase) -> Section | None:
    summary = assessment.input_summary
    if summary is None and not assessment.ignored_data:
        return None
    section = Section("Data read")
    if summary is not None:
        used = ", ".join(f"{k} {v}" for k, v in summary.used.items()) or "nothing counted"
        section.add(Item(f"{summary.kind}: used {used}", lead="Input"))
        if summary.unused:
            unused = ", ".join(f"{k} {v}" for k, v in summary.unused.items())
            section.add(Item(unused, lead="Not used"))
    for item in assessment.ignored_data:
        section.add(Item(item, lead="Ignored"))
    return section


def build_document(
    assessment: Assessment, kb: KnowledgeBase | None = None
) -> tuple[str, list[Section]]:
    """The title and sections of the clinician-facing assessment."""
    kb = kb or default_knowledge_base()
    title = f"rccnav assessment as of {assessment.on.isoformat()}"
    prognosis = Section("Prognosis").add(
        "IMDC decides the systemic-therapy tables; MSKCC is shown beside it. With unknown "
        "factors, every group still possible is listed.",
        risk_section(assessment.imdc, "IMDC (Heng)", kb),
        risk_section(assessment.mskcc, "MSKCC (Motzer)", kb),
    )
    # Warnings come first: a critical item (brain metastases, cord compression) must
    # not sit below two screens of prognosis.
    sections: list[Section | None] = [
        _warnings(assessment, kb),
        prognosis,
        _systemic(assessment.systemic_therapy, kb),
        _before_treating(assessment),
        _decision("Cytoreductive nephrectomy", assessment.cytoreductive_nephrectomy),
        _metastasectomy(assessment),
        _local(assessment),
        _decision("Active surveillance", assessment.active_surveillance),
        _decision("Clinical trial", assessment.clinical_trial),
        _decision("Genetics", assessment.genetics),
        _input(assessment, kb),
        _knowledge_base(assessment),
    ]
    return title, with_references([s for s in sections if s is not None], kb)


def _number_block(block: Block, citations: Citations) -> Block:
    if isinstance(block, str):
        return citations.number(block)
    if isinstance(block, Item):
        return replace(
            block,
            text=citations.number(block.text),
            lead=citations.number(block.lead),
            details=tuple(citations.number(d) for d in block.details),
        )
    if isinstance(block, Table):
        return Table(
            tuple(citations.number(h) for h in block.headers),
            tuple(tuple(citations.number(c) for c in row) for row in block.rows),
        )
    return Section(
        citations.number(block.title),
        [_number_block(b, citations) for b in block.blocks],
        block.level,
    )


def with_references(sections: list[Section], kb: KnowledgeBase | None = None) -> list[Section]:
    """Citations numbered [1], [2] in reading order, units in display form, and a
    numbered reference list at the end (nothing added when nothing is cited)."""
    citations = Citations(kb or default_knowledge_base())
    numbered = [_number_block(s, citations) for s in sections]
    entries = citations.entries()
    if entries:
        numbered.append(Section("References").add(*entries))
    return [s for s in numbered if isinstance(s, Section)]


def _knowledge_base(assessment: Assessment) -> Section:
    kb = assessment.knowledge_base
    return Section("Knowledge base").add(
        f"Version {kb.version}, content checksum {kb.checksum[:12]}.", DISCLAIMER
    )
