"""CDS Hooks cards from an Assessment.

This module only *presents* what ``assess`` decided: every statement on a card
is an Assessment field, a warning the core raised, or knowledge-base text
(names, citations, the alternatives a nonstandard-combination rule lists). It
decides nothing clinical.

Each card: ``uuid``, a summary under 140 characters, an indicator, a source
(label and url from the knowledge-base citation, and a topic coding naming the
card type, which the feedback report groups by), Markdown detail with the
reasons and numbered citations, and links to the sources.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rccnav.adapters.render.document import factor_label, source_label
from rccnav.adapters.render.wording import display_units, plain_words
from rccnav.adapters.service.models import Action, Card, Coding, Link, Source, Suggestion
from rccnav.core.assessment import (
    Assessment,
    Decision,
    LocalMeasure,
    Reason,
    RiskResult,
    Severity,
    SystemicTherapy,
    TherapyOption,
    Warning,
)
from rccnav.knowledge.model import KnowledgeBase

TOPIC_SYSTEM = "urn:rccnav:cds-card-type"
NON_ADHERENCE_SYSTEM = "http://cds-hooks.hl7.org/CodeSystem/non-adherence-reason"
RCCNAV_OVERRIDE_SYSTEM = "urn:rccnav:override-reason"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SUMMARY_MAX = 139
#: Card detail limit: longer reasoning is cut at a line and points to the full report.
DETAIL_MAX = 2_000
MAX_SUGGESTIONS = 3
MAX_LINKS = 3

# Warnings about the order being placed (the core raises these only for a proposal).
ORDER_WARNING_CODES = frozenset(
    {
        "ineffective-therapy",
        "experimental-therapy",
        "low-benefit-therapy",
        "nonstandard-regimen",
        "regimen-not-recommended",
        "ici-rechallenge",
        "guideline-disagreement",
        "unrecognised-therapy",
    }
)
# Patient-level emergencies, shown as their own critical cards.
URGENT_WARNING_CODES = frozenset(
    {"spinal-cord-compression", "brain-metastases", "hypercalcaemia", "fracture"}
)

# Codes from the CDS Hooks non-adherence-reason code system, plus one of ours.
ORDER_OVERRIDE_REASONS: tuple[Coding, ...] = (
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="expert-contradicts",
        display="Advice from expert contradicts the recommended action",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="risk-benefit-ratio",
        display="Recipient assessment of risk/benefit ratio",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="action-performed-no-adverse-effect",
        display="Intended action was performed previously without adverse effect",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="does-not-align-latest-evidence",
        display="Recommended action does not align with the latest evidence",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="prefers-alternative",
        display="Patient prefers an alternative approach or treatment",
    ),
    Coding(
        system=RCCNAV_OVERRIDE_SYSTEM,
        code="clinical-trial-protocol",
        display="Ordered within a clinical trial protocol",
    ),
)
PATIENT_OVERRIDE_REASONS: tuple[Coding, ...] = (
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="cds-not-applicable",
        display="PC CDS does not apply to patient",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="need-more-info",
        display="Could not address recommended action due to need for more "
        "information/pending results/pending consult",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="expert-contradicts",
        display="Advice from expert contradicts the recommended action",
    ),
    Coding(
        system=NON_ADHERENCE_SYSTEM,
        code="does-not-align-latest-evidence",
        display="Recommended action does not align with the latest evidence",
    ),
)
OVERRIDE_DISPLAY = {
    (c.system, c.code): c.display for c in (*ORDER_OVERRIDE_REASONS, *PATIENT_OVERRIDE_REASONS)
}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_CITATION_NUMBER = re.compile(r"^\[[^\]]+\]\s*")


@dataclass(frozen=True)
class IssuedCard:
    card_type: str
    card: Card


@dataclass(frozen=True)
class DraftOrder:
    """A draft MedicationRequest the clinician is ordering (for suggestion actions)."""

    resource_id: str


# -- text helpers ----------------------------------------------------------


@lru_cache(maxsize=16_384)
def md(text: str) -> str:
    """Escape Markdown and HTML so data never turns into markup or links."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def words(kb: KnowledgeBase, text: str) -> str:
    """Prose from the core as a clinician reads it (display units; no table, case-file
    field or regimen ids), escaped for Markdown. The same wording as the text report."""
    return md(plain_words(display_units(text), kb))


def fit(text: str, limit: int = SUMMARY_MAX) -> str:
    """Shorten to the summary limit at a word boundary."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _human(value: str) -> str:
    return value.replace("-", " ")


@dataclass
class _Citations:
    """Numbered references for one card's detail."""

    kb: KnowledgeBase
    order: list[str] = field(default_factory=list)
    numbers: dict[str, int] = field(default_factory=dict)

    def cite(self, source_ids: Iterable[str]) -> str:
        marks: list[str] = []
        for sid in source_ids:
            if sid not in self.kb.sources:
                continue
            number = self.numbers.get(sid)
            if number is None:
                self.order.append(sid)
                number = self.numbers[sid] = len(self.order)
            url = self.kb.sources[sid].url
            marks.append(f"[\\[{number}\\]]({url})" if url else f"\\[{number}\\]")
        return " " + "".join(marks) if marks else ""

    def reason(self, reason: Reason) -> str:
        return f"- {words(self.kb, reason.text)}{self.cite(reason.sources)}"

    def section(self) -> str:
        if not self.order:
            return ""
        lines = ["", "", "**Sources**", ""]
        for number, sid in enumerate(self.order, start=1):
            source = self.kb.sources[sid]
            citation = md(_CITATION_NUMBER.sub("", source.citation))
            lines.append(f"{number}. {citation}" + (f" <{source.url}>" if source.url else ""))
        return "\n".join(lines)

    def links(self) -> list[Link] | None:
        links = [
            Link(label=_label(self.kb.sources[sid].citation, 60), url=url, type="absolute")
            for sid in self.order
            if (url := self.kb.sources[sid].url)
        ]
        return links[:MAX_LINKS] or None


def _label(citation: str, limit: int = 90) -> str:
    return fit(_CITATION_NUMBER.sub("", citation), limit)


def _source(kb: KnowledgeBase, source_ids: Sequence[str], card_type: str, title: str) -> Source:
    """The card's primary source: the first guideline it cites, else the first source."""
    topic = Coding(system=TOPIC_SYSTEM, code=card_type, display=title)
    known = [kb.sources[sid] for sid in source_ids if sid in kb.sources]
    primary = next((s for s in known if s.kind == "guideline"), known[0] if known else None)
    if primary is None:
        return Source(label=f"rccnav knowledge base {kb.version}", topic=topic)
    return Source(label=_label(primary.citation), url=primary.url, topic=topic)


def _footer(assessment: Assessment) -> str:
    return (
        f"\n\n_rccnav, knowledge base {md(assessment.knowledge_base.version)}, "
        f"assessed as of {assessment.on.isoformat()}._"
    )


def _detail(body: Sequence[str], citations: _Citations, footer: str) -> str:
    """Markdown detail of at most ``DETAIL_MAX`` characters.

    Too long with the numbered source list: the list goes (each citation mark in
    the text is itself a link, and the card's links name the first sources).
    Still too long: whole lines are kept from the top (most important first) and
    a line says how many more are in the full report.
    """
    full = "\n".join(body) + citations.section() + footer
    if len(full) <= DETAIL_MAX:
        return full
    text = "\n".join(body)
    if len(text) + len(footer) <= DETAIL_MAX:
        return text + footer
    kept: list[str] = []
    for index, line in enumerate(body):
        note = (
            f"\n\n_Shortened: {len(body) - index} more line(s) and the source list "
            "are in the full report._"
        )
        room = DETAIL_MAX - len(note) - len(footer)
        if len("\n".join([*kept, line])) > room:
            if not kept:  # one line longer than the card: cut it at a word
                kept = [fit(line, room)]
            return "\n".join(kept).rstrip() + note + footer
        kept.append(line)
    return text + footer  # pragma: no cover - the loop returns once the limit is reached


def _card(
    kb: KnowledgeBase,
    assessment: Assessment,
    *,
    card_type: str,
    title: str,
    summary: str,
    indicator: Severity,
    body: list[str],
    citations: _Citations,
    source_ids: Sequence[str],
    suggestions: list[Suggestion] | None = None,
    override_reasons: Sequence[Coding] = (),
) -> IssuedCard:
    detail = _detail(body, citations, _footer(assessment))
    card = Card(
        uuid=_new_uuid(),
        summary=fit(summary),
        detail=detail,
        indicator=indicator,
        source=_source(kb, [*source_ids, *citations.order], card_type, title),
        suggestions=suggestions or None,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=list(override_reasons) or None,
        links=citations.links(),
    )
    return IssuedCard(card_type, card)


def _option_name(kb: KnowledgeBase, option_id: str) -> str:
    if option_id in kb.regimens:
        return kb.regimens[option_id].name
    if option_id in kb.non_drug_options:
        return kb.non_drug_options[option_id].name
    return _human(option_id)


# -- patient-view cards ----------------------------------------------------


def _factor_rows(kb: KnowledgeBase, risk: RiskResult) -> list[str]:
    rows = ["| Factor | Status | Evidence |", "| --- | --- | --- |"]
    for factor in risk.factors:
        evidence = words(kb, factor.evidence)
        rows.append(f"| {md(factor_label(factor.name))} | {factor.status} | {evidence} |")
    return rows


def imdc_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard:
    imdc, mskcc = a.imdc, a.mskcc
    counted = (
        str(imdc.factor_count_min)
        if imdc.factor_count_min == imdc.factor_count_max
        else f"{imdc.factor_count_min}-{imdc.factor_count_max}"
    )
    unknown = [f for f in imdc.factors if f.status == "unknown"]
    if imdc.risk_group is not None:
        summary = f"IMDC risk: {imdc.risk_group} ({counted} of {len(imdc.factors)} factors)"
        if unknown:
            summary += f"; {len(unknown)} unknown, cannot change the group"
        indicator: Severity = "info"
    else:
        summary = (
            f"IMDC risk undetermined: {' or '.join(imdc.possible_groups)}; "
            f"{len(unknown)} factor(s) unknown"
        )
        indicator = "warning"
    cite = _Citations(kb)
    body = [f"**IMDC risk:** {imdc.risk_group or 'undetermined'}{cite.cite(imdc.sources)}", ""]
    body += _factor_rows(kb, imdc)
    settle = [m for m in imdc.missing if m.could_change_group]
    if settle:
        body += ["", "**What would settle it**", ""]
        body += [f"- {md(factor_label(m.factor))}: {words(kb, m.needed)}" for m in settle]
    other = [m for m in imdc.missing if not m.could_change_group]
    if other:
        body += ["", "**Unknown, but cannot change the group**", ""]
        body += [f"- {md(factor_label(m.factor))}: {words(kb, m.needed)}" for m in other]
    if imdc.survival:
        body += ["", "**Median overall survival in the reference cohorts**", ""]
        body += [
            f"- {s.risk_group}, {md(s.setting)}: {s.median_os_months:g} months "
            f"({md(s.cohort)}){cite.cite(s.sources)}"
            for s in imdc.survival
        ]
    body += [
        "",
        f"**MSKCC (for comparison):** {mskcc.risk_group or 'undetermined'}"
        f" (possible: {', '.join(mskcc.possible_groups) or 'none'}){cite.cite(mskcc.sources)}",
    ]
    return _card(
        kb,
        a,
        card_type="imdc-risk",
        title="IMDC prognostic risk",
        summary=summary,
        indicator=indicator,
        body=body,
        citations=cite,
        source_ids=imdc.sources,
        override_reasons=PATIENT_OVERRIDE_REASONS if indicator != "info" else (),
    )


def _option_line(kb: KnowledgeBase, option: TherapyOption, cite: _Citations) -> list[str]:
    lines = [f"- **{md(option.name)}**{cite.cite(option.sources)}"]
    regimen = kb.regimens.get(option.regimen)
    if regimen is not None and regimen.pivotal_trial:
        lines.append(f"  - Evidence: {words(kb, regimen.pivotal_trial)}")
    lines += [f"  - {words(kb, r.text)}{cite.cite(r.sources)}" for r in option.reasons]
    lines += [f"  - Caution: {words(kb, c)}" for c in option.cautions]
    if option.only_if_risk:
        lines.append(f"  - Only if IMDC risk is {' or '.join(option.only_if_risk)}")
    return lines


_THERAPY_CARDS: dict[tuple[int, SystemicTherapy, str, object], Card] = {}
_THERAPY_CARDS_MAX = 256


def therapy_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard:
    """The systemic-therapy card; patients with the same options share its text.

    The card is a function of the SystemicTherapy decision (a frozen, hashable
    value), the knowledge base and the date, so it is rendered once per distinct
    decision and re-issued under a new uuid.
    """
    key = (id(kb), a.systemic_therapy, a.knowledge_base.version, a.on)
    card = _THERAPY_CARDS.get(key)
    if card is None:
        card = _therapy_card(kb, a).card
        if len(_THERAPY_CARDS) >= _THERAPY_CARDS_MAX:
            _THERAPY_CARDS.clear()
        _THERAPY_CARDS[key] = card
    return IssuedCard("systemic-therapy", card.model_copy(update={"uuid": _new_uuid()}))


def _therapy_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard:
    st: SystemicTherapy = a.systemic_therapy
    preferred = [_option_name(kb, r) for r in st.preferred]
    if preferred:
        summary = f"Line {st.line} therapy, preferred: {'; '.join(preferred)}"
    else:
        summary = f"Line {st.line} therapy: no preferred regimen; see options"
    indicator: Severity = "warning" if st.depends_on_unknown_risk else "info"
    if st.depends_on_unknown_risk:
        summary = f"Line {st.line} therapy depends on the unknown IMDC risk group; see options"
    cite = _Citations(kb)
    body = [f"**Setting:** {md(st.setting)} (line {st.line})"]
    body += [cite.reason(r) for r in st.reasons]
    groups = (
        ("Preferred", "preferred"),
        ("Other recommended", "other"),
        ("Useful in certain circumstances", "certain-circumstances"),
    )
    for heading, category in groups:
        options = [o for o in st.options if o.category == category]
        if options:
            body += ["", f"**{heading}**", ""]
            for option in options:
                body += _option_line(kb, option, cite)
    if st.excluded:
        body += ["", "**Not recommended here**", ""]
        body += [
            f"- {md(_option_name(kb, e.regimen))}: {words(kb, e.reason.text)}"
            f"{cite.cite(e.reason.sources)}"
            for e in st.excluded
        ]
    table_sources = [s for o in st.options for r in o.reasons for s in r.sources]
    return _card(
        kb,
        a,
        card_type="systemic-therapy",
        title="Systemic therapy",
        summary=summary,
        indicator=indicator,
        body=body,
        citations=cite,
        source_ids=table_sources,
    )


_CN_SUMMARY = {
    "consider-upfront": "Consider upfront cytoreductive nephrectomy",
    "consider-deferred": (
        "Consider deferred cytoreductive nephrectomy after response to systemic therapy"
    ),
    "not-recommended": "Cytoreductive nephrectomy not recommended",
}


def _decision_card(
    kb: KnowledgeBase,
    a: Assessment,
    decision: Decision,
    *,
    card_type: str,
    title: str,
    summary: str,
    extra: Sequence[str] = (),
) -> IssuedCard:
    cite = _Citations(kb)
    body = [f"**{md(title)}:** {md(_human(decision.recommendation))}", ""]
    body += [cite.reason(r) for r in decision.reasons]
    if decision.unknowns:
        body += ["", "**Unknown, could change this**", ""]
        body += [f"- {words(kb, _human(u))}" for u in decision.unknowns]
    body += list(extra)
    sources = [s for r in decision.reasons for s in r.sources]
    return _card(
        kb,
        a,
        card_type=card_type,
        title=title,
        summary=summary,
        indicator="info",
        body=body,
        citations=cite,
        source_ids=sources,
    )


def nephrectomy_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard | None:
    decision = a.cytoreductive_nephrectomy
    if decision.recommendation == "not-applicable":
        return None
    summary = _CN_SUMMARY.get(
        decision.recommendation, f"Cytoreductive nephrectomy: {_human(decision.recommendation)}"
    )
    return _decision_card(
        kb,
        a,
        decision,
        card_type="cytoreductive-nephrectomy",
        title="Cytoreductive nephrectomy",
        summary=summary,
    )


def metastasectomy_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard | None:
    m = a.metastasectomy
    if m.recommendation in {"not-applicable", "not-recommended"}:
        return None
    decision = Decision(m.recommendation, m.reasons, m.unknowns)
    adjuvant = m.adjuvant_pembrolizumab
    extra: list[str] = []
    if adjuvant.recommendation not in {"not-applicable"}:
        extra = [
            "",
            f"**Adjuvant pembrolizumab after complete resection:** "
            f"{md(_human(adjuvant.recommendation))}",
        ]
        extra += [f"- {words(kb, r.text)}" for r in adjuvant.reasons]
    summary = (
        "Consider metastasectomy or local treatment of all sites"
        if m.recommendation == "consider"
        else f"Metastasectomy: {_human(m.recommendation)}"
    )
    return _decision_card(
        kb,
        a,
        decision,
        card_type="metastasectomy",
        title="Metastasectomy / complete local treatment",
        summary=summary,
        extra=extra,
    )


def local_therapy_card(
    kb: KnowledgeBase, a: Assessment, measures: Sequence[LocalMeasure]
) -> IssuedCard | None:
    if not measures:
        return None
    cite = _Citations(kb)
    body: list[str] = []
    for measure in measures:
        body += [f"**{words(kb, measure.title)}** ({measure.urgency})", ""]
        body += [cite.reason(r) for r in measure.reasons]
        body.append("")
    names = "; ".join(m.title for m in measures)
    worst = {"emergency": 2, "urgent": 1, "routine": 0}
    level = max(worst.get(m.urgency, 0) for m in measures)
    indicator: Severity = ("info", "warning", "critical")[level]
    sources = [s for m in measures for r in m.reasons for s in r.sources]
    return _card(
        kb,
        a,
        card_type="local-therapy",
        title="Local and palliative therapy",
        summary=f"Local therapy to consider: {names}",
        indicator=indicator,
        body=body,
        citations=cite,
        source_ids=sources,
    )


def trial_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard | None:
    decision = a.clinical_trial
    if decision.recommendation != "recommended":
        return None
    return _decision_card(
        kb,
        a,
        decision,
        card_type="clinical-trial",
        title="Clinical trial",
        summary="A clinical trial is recommended for this patient",
    )


def surveillance_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard | None:
    decision = a.active_surveillance
    if decision.recommendation != "consider":
        return None
    return _decision_card(
        kb,
        a,
        decision,
        card_type="active-surveillance",
        title="Active surveillance",
        summary="Active surveillance may be an option before systemic therapy",
    )


def genetics_card(kb: KnowledgeBase, a: Assessment) -> IssuedCard | None:
    decision = a.genetics
    summaries = {
        "refer-for-genetic-evaluation": "Refer for germline genetic evaluation",
        "known-hereditary-syndrome": "Hereditary RCC syndrome: management differs",
    }
    if decision.recommendation not in summaries:
        return None
    return _decision_card(
        kb,
        a,
        decision,
        card_type="genetics",
        title="Hereditary RCC",
        summary=summaries[decision.recommendation],
    )


_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


def _worst(warnings: Sequence[Warning]) -> Severity:
    return max((w.severity for w in warnings), key=lambda s: _SEVERITY_RANK[s])


def _group(warnings: Iterable[Warning]) -> dict[str, list[Warning]]:
    groups: dict[str, list[Warning]] = {}
    for warning in warnings:
        groups.setdefault(warning.code, []).append(warning)
    return groups


def warning_card(
    kb: KnowledgeBase,
    a: Assessment,
    code: str,
    warnings: Sequence[Warning],
    *,
    suggestions: list[Suggestion] | None = None,
    override_reasons: Sequence[Coding] = (),
) -> IssuedCard:
    cite = _Citations(kb)
    first = plain_words(display_units(warnings[0].message), kb)
    summary = fit(first) if len(warnings) == 1 else f"{len(warnings)} × {_human(code)}: {first}"
    body = [f"**{md(_human(code)).capitalize()}**", ""]
    for w in warnings:
        line = f"- {words(kb, w.message)}{cite.cite(w.sources)}"
        if w.source:
            line += f" _(about: {md(source_label(w.source, kb))})_"
        body.append(line)
    sources = [s for w in warnings for s in w.sources]
    return _card(
        kb,
        a,
        card_type=code,
        title=_human(code),
        summary=summary,
        indicator=_worst(warnings),
        body=body,
        citations=cite,
        source_ids=sources,
        suggestions=suggestions,
        override_reasons=override_reasons,
    )


def with_report_link(cards: Sequence[IssuedCard], report_url: str | None) -> list[IssuedCard]:
    """Each card's first link opens the full report (``report_url`` in the service config)."""
    if report_url is None:
        return list(cards)
    link = Link(label="Full rccnav report", url=report_url, type="absolute")
    return [
        IssuedCard(
            c.card_type,
            c.card.model_copy(update={"links": [link, *(c.card.links or ())]}),
        )
        for c in cards
    ]


def patient_view_cards(
    kb: KnowledgeBase, a: Assessment, *, report_url: str | None = None
) -> list[IssuedCard]:
    """Urgent cards first, then prognosis, therapy and the other decisions, then warnings."""
    return with_report_link(_patient_view_cards(kb, a), report_url)


def _patient_view_cards(kb: KnowledgeBase, a: Assessment) -> list[IssuedCard]:
    groups = _group(a.warnings)
    urgent = [
        warning_card(kb, a, code, groups[code], override_reasons=PATIENT_OVERRIDE_REASONS)
        for code in sorted(URGENT_WARNING_CODES & groups.keys())
    ]
    urgent_rules = {w.rule for code in URGENT_WARNING_CODES for w in groups.get(code, ())}
    measures = [m for m in a.local_therapy if m.id not in urgent_rules]
    cards: list[IssuedCard | None] = [
        *urgent,
        imdc_card(kb, a),
        therapy_card(kb, a),
        nephrectomy_card(kb, a),
        metastasectomy_card(kb, a),
        local_therapy_card(kb, a, measures),
        surveillance_card(kb, a),
        trial_card(kb, a),
        genetics_card(kb, a),
    ]
    for code, warnings in groups.items():
        if code not in URGENT_WARNING_CODES:
            reasons = PATIENT_OVERRIDE_REASONS if _worst(warnings) != "info" else ()
            cards.append(warning_card(kb, a, code, warnings, override_reasons=reasons))
    present = [c for c in cards if c is not None]
    # Most urgent first; otherwise the order above (a stable sort).
    return sorted(present, key=lambda c: -_SEVERITY_RANK[c.card.indicator])


# -- order-select / order-sign cards --------------------------------------


def _proposed_agents(kb: KnowledgeBase, a: Assessment, proposed: Sequence[str]) -> list[str]:
    return sorted({agent for name in proposed if (agent := kb.resolve_agent(name)) is not None})


def _about_order(kb: KnowledgeBase, warning: Warning, agents: Sequence[str]) -> bool:
    if warning.code in ORDER_WARNING_CODES:
        return True
    rule = next((c for c in kb.contraindications if c.id == warning.rule), None)
    if rule is None:
        return False
    return any(
        agent in rule.agents or kb.agents[agent].agent_class in rule.agent_classes
        for agent in agents
    )


def _alternatives(
    kb: KnowledgeBase, a: Assessment, warnings: Sequence[Warning], current: str
) -> list[str]:
    st = a.systemic_therapy
    excluded = {e.regimen for e in st.excluded}
    cautious = {o.regimen for o in st.options if o.cautions}
    # Shown with a guideline disagreement, but a guideline advises against it here.
    disputed = {
        o.regimen
        for o in st.options
        if any(p.listing == "not-recommended" for p in o.guideline_positions)
    }
    meant: list[str] = []
    for warning in warnings:
        combo = next((c for c in kb.nonstandard_combinations if c.id == warning.rule), None)
        if combo is not None:
            meant += list(combo.likely_meant)
    listed = [*meant, *st.preferred, *st.other]
    unwanted = excluded | cautious | disputed | {current}
    picked: list[str] = []
    for regimen in listed:
        if regimen not in kb.regimens or regimen in unwanted or regimen in picked:
            continue
        # An order is suggested only when every agent in it has an RxNorm code:
        # a text-only draft order would have to be re-keyed by hand.
        if all(kb.agents[agent].rxnorm for agent in kb.regimens[regimen].agents):
            picked.append(regimen)
    return picked[:MAX_SUGGESTIONS]


def _medication_request(kb: KnowledgeBase, agent_id: str, patient_id: str) -> dict[str, Any]:
    agent = kb.agents[agent_id]
    concept: dict[str, Any] = {"text": agent.name}
    if agent.rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": agent.rxnorm[0], "display": agent.name}]
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "proposal",
        "subject": {"reference": f"Patient/{patient_id}"},
        "medicationCodeableConcept": concept,
    }


def _suggestion(
    kb: KnowledgeBase, regimen_id: str, drafts: Sequence[DraftOrder], patient_id: str, first: bool
) -> Suggestion:
    regimen = kb.regimens[regimen_id]
    actions = [
        Action(
            type="delete",
            description=f"Remove the draft order {d.resource_id}",
            resourceId=d.resource_id,
        )
        for d in drafts
    ]
    actions += [
        Action(
            type="create",
            description=f"Draft an order for {kb.agents[agent].name}",
            resource=_medication_request(kb, agent, patient_id),
        )
        for agent in regimen.agents
    ]
    return Suggestion(
        label=fit(f"Order {regimen.name} instead", 80),
        uuid=_new_uuid(),
        isRecommended=first,
        actions=actions,
    )


def order_cards(
    kb: KnowledgeBase,
    a: Assessment,
    *,
    proposed: Sequence[str],
    drafts: Sequence[DraftOrder],
    patient_id: str,
    report_url: str | None = None,
) -> list[IssuedCard]:
    """Cards about the drafted regimen only; suggestions on the most severe card."""
    agents = _proposed_agents(kb, a, proposed)
    relevant = [w for w in a.warnings if _about_order(kb, w, agents)]
    if not agents:
        # Nothing ordered is an RCC agent rccnav knows: not ours to comment on.
        relevant = [w for w in relevant if w.code != "unrecognised-therapy"]
    groups = _group(relevant)
    ordered = sorted(groups.items(), key=lambda kv: -_SEVERITY_RANK[_worst(kv[1])])
    cards: list[IssuedCard] = []
    for index, (code, warnings) in enumerate(ordered):
        suggestions: list[Suggestion] | None = None
        if index == 0 and code != "unrecognised-therapy":
            alternatives = _alternatives(kb, a, warnings, "+".join(agents))
            suggestions = [
                _suggestion(kb, regimen, drafts, patient_id, i == 0)
                for i, regimen in enumerate(alternatives)
            ] or None
        cards.append(
            warning_card(
                kb,
                a,
                code,
                warnings,
                suggestions=suggestions,
                override_reasons=ORDER_OVERRIDE_REASONS,
            )
        )
    return with_report_link(cards, report_url)
