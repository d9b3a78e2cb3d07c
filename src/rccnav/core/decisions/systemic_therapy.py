"""Systemic therapy for the current line: by histology, IMDC group and prior therapy.

Recommendation tables are knowledge-base data; this module picks the rows that
apply, merges them across the risk groups still possible, and applies the
modifiers the reference names: sarcomatoid features favour checkpoint
inhibitors, no PD-1/PD-L1 rechallenge after progression, contraindications
demote or remove, regimens already received are not offered again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from rccnav.core.assessment import (
    Decision,
    ExcludedOption,
    GuidelinePosition,
    GuidelineViewName,
    NoPreferred,
    Reason,
    RiskGroupName,
    RiskResult,
    SystemicTherapy,
    TherapyOption,
)
from rccnav.core.case import Case, Gene, Histology
from rccnav.core.decisions import aldesleukin_fitness, guideline_views
from rccnav.core.decisions.common import because, brain_metastases
from rccnav.core.decisions.lines import Line
from rccnav.core.decisions.safety_facts import Facts, fact_label, rule_message
from rccnav.core.memo import Memo
from rccnav.knowledge.model import (
    CHECKPOINT_CLASSES,
    PD1_AXIS_CLASSES,
    AgentClass,
    FallbackTier,
    KnowledgeBase,
    Rule,
    TherapyTable,
)

CATEGORIES = ("preferred", "other", "certain-circumstances")
_RANK = {name: rank for rank, name in enumerate(CATEGORIES)}

#: Supplies the HD IL-2 fitness when the decision needs it (the treatment memo records
#: whether it was asked for).
FitnessOf = Callable[[], aldesleukin_fitness.Fitness]


@dataclass(slots=True)
class _Draft:
    category: str
    reasons: list[Reason] = field(default_factory=list)
    only_if_risk: tuple[RiskGroupName, ...] = ()
    cautions: list[str] = field(default_factory=list)
    base: TherapyOption | None = None
    contraindicated: bool = False
    positions: tuple[GuidelinePosition, ...] = ()
    disagreement: str | None = None

    def to_option(self, option: str, kb: KnowledgeBase) -> TherapyOption:
        base = self.base
        if (
            base is not None
            and base.category == self.category
            and len(base.reasons) == len(self.reasons)
            and not self.cautions
        ):
            return base  # unchanged since the cached table merge
        return TherapyOption(
            regimen=option,
            category=self.category,  # type: ignore[arg-type]
            name=_name(kb, option),
            reasons=tuple(_dedupe(self.reasons)),
            sources=_sources(kb, option),
            review_status=_status(kb, option),
            only_if_risk=self.only_if_risk,
            cautions=tuple(dict.fromkeys(self.cautions)),
            contraindicated=self.contraindicated,
            guideline_positions=self.positions,
            guideline_disagreement=self.disagreement,
        )


def effective_histology(case: Case) -> Histology | None:
    """Histology as treated: FH germline with papillary/unclassified tumours is FH-deficient RCC."""
    histology = case.diagnosis.histology
    if Gene.FH in case.germline.pathogenic_variants and histology in (
        None,
        Histology.PAPILLARY,
        Histology.UNCLASSIFIED,
    ):
        return Histology.FH_DEFICIENT
    return histology


def _table_rows(
    kb: KnowledgeBase, histology: str, line: Line, view: GuidelineViewName = "all"
) -> tuple[list[TherapyTable], list[Reason]]:
    reasons: list[Reason] = []
    rows = [t for t in kb.tables_for(view) if histology in t.histologies]
    if line.number == 1 or not line.exposure:
        if line.number > 1:
            reasons.append(
                because(
                    kb,
                    "therapy.no-targeted-exposure",
                    "Prior therapy included neither a checkpoint inhibitor nor a VEGF-targeted "
                    "agent, so first-line options apply.",
                )
            )
        return [t for t in rows if t.line == "first"], reasons
    subsequent = [t for t in rows if t.line == "subsequent"]
    exact = [t for t in subsequent if set(t.after_classes) == line.exposure]
    if exact:
        return exact, reasons
    covering = [t for t in subsequent if set(t.after_classes) <= line.exposure]
    best = max((len(t.after_classes) for t in covering), default=0)
    return [t for t in covering if len(t.after_classes) == best], reasons


#: Keyed by the tables and IMDC groups in play: a handful per knowledge base and view.
_MERGE_CACHE: Memo[tuple[str, str, tuple[str, ...], tuple[str, ...]], dict[str, TherapyOption]] = (
    Memo("table merge", "knowledge", 1024)
)


def _merge(
    rows: list[TherapyTable],
    possible: tuple[RiskGroupName, ...],
    kb: KnowledgeBase,
    view: GuidelineViewName = "all",
) -> dict[str, _Draft]:
    """Category per option across possible risk groups: the least favourable wins.

    Pure over knowledge-base content, so memoised by the KB checksum and the view.
    """
    key = (kb.checksum, view, tuple(r.id for r in rows), possible)
    merged = _MERGE_CACHE.get(key)
    if merged is None:
        merged = {
            option: draft.to_option(option, kb)
            for option, draft in _merge_uncached(rows, possible, kb, view).items()
        }
        _MERGE_CACHE.put(key, merged)
    # Positional: one draft per listed option on every call.
    return {
        option: _Draft(
            base.category,
            list(base.reasons),
            base.only_if_risk,
            [],
            base,
            False,
            base.guideline_positions,
            base.guideline_disagreement,
        )
        for option, base in merged.items()
    }


def _merge_uncached(
    rows: list[TherapyTable],
    possible: tuple[RiskGroupName, ...],
    kb: KnowledgeBase,
    view: GuidelineViewName,
) -> dict[str, _Draft]:
    per_group: dict[RiskGroupName, dict[str, tuple[str, TherapyTable]]] = {}
    for group in possible:
        listing: dict[str, tuple[str, TherapyTable]] = {}
        for row in rows:
            if group not in row.risk_groups:
                continue
            for category, options in (
                ("preferred", row.preferred),
                ("other", row.other),
                ("certain-circumstances", row.certain_circumstances),
            ):
                for option in options:
                    if option not in listing or _RANK[category] < _RANK[listing[option][0]]:
                        listing[option] = (category, row)
        per_group[group] = listing
    drafts: dict[str, _Draft] = {}
    all_options = {o for listing in per_group.values() for o in listing}
    for option in sorted(all_options):
        ranks = {
            g: _RANK[per_group[g][option][0]] if option in per_group[g] else 3 for g in possible
        }
        worst, best = max(ranks.values()), min(ranks.values())
        category = CATEGORIES[min(worst, 2)]
        reasons = [
            _listed_because(kb, view, row, option, per_group[g][option][0], g, possible)
            for g in possible
            if option in per_group[g]
            for row in [per_group[g][option][1]]
        ]
        positions, disagreement = guideline_views.positions_for(kb, rows, possible, option)
        draft = _Draft(
            category,
            _dedupe(
                [*reasons, *(_guideline_only(rows, possible, option, kb) if view == "all" else ())]
            ),
            positions=positions,
            disagreement=disagreement,
        )
        if worst != best:
            draft.only_if_risk = tuple(g for g in possible if ranks[g] == best)
            draft.reasons.append(
                Reason(
                    text=f"Would be {CATEGORIES[best]} if the IMDC group is "
                    f"{' or '.join(draft.only_if_risk)}; the group is not yet determined.",
                    rule="prognosis.imdc",
                    sources=kb.rule("prognosis.imdc").sources,
                    review_status=kb.rule("prognosis.imdc").status.value,
                )
            )
        drafts[option] = draft
    return drafts


def _listed_because(
    kb: KnowledgeBase,
    view: GuidelineViewName,
    row: TherapyTable,
    option: str,
    category: str,
    group: RiskGroupName,
    possible: tuple[RiskGroupName, ...],
) -> Reason:
    """Why the option is in this category: the table row, or in one guideline's view that
    guideline's own position (its sources and review status)."""
    text = f"Listed as {category} in table {row.id}" + (
        f" for {group} risk" if len(possible) > 1 else ""
    )
    own = next((p for p in kb.positions(row.id, option) if p.body == view), None)
    if own is None:
        return Reason(text, row.id, row.sources, row.status.value)
    name = kb.guideline_name(view)
    if own.listing == "not-recorded":
        return Reason(
            f"{text}: {name}'s position is not recorded, so the merged category is shown",
            row.id,
            row.sources,
            row.status.value,
        )
    return Reason(f"{text} ({name}: {own.text})", row.id, own.sources, own.status.value)


def _dedupe(reasons: Iterable[Reason]) -> list[Reason]:
    seen: set[tuple[str, str | None]] = set()
    out: list[Reason] = []
    for reason in reasons:
        key = (reason.text, reason.rule)
        if key not in seen:
            seen.add(key)
            out.append(reason)
    return out


def _agents(kb: KnowledgeBase, option: str) -> tuple[str, ...]:
    regimen = kb.regimens.get(option)
    return regimen.agents if regimen else ()


def _has_class(kb: KnowledgeBase, option: str, classes: frozenset[AgentClass]) -> bool:
    return not kb.regimen_classes(option).isdisjoint(classes)


def _is_ici_combination(kb: KnowledgeBase, option: str) -> bool:
    return len(_agents(kb, option)) > 1 and _has_class(kb, option, CHECKPOINT_CLASSES)


def _demote(draft: _Draft) -> None:
    draft.category = CATEGORIES[min(_RANK[draft.category] + 1, 2)]


def _apply_sarcomatoid(
    case: Case, drafts: dict[str, _Draft], kb: KnowledgeBase, reasons: list[Reason]
) -> None:
    """Favour checkpoint-inhibitor combinations (applied after contraindications).

    The benefit in the sarcomatoid subgroups is from combinations (CheckMate 214,
    KEYNOTE-426, CLEAR, CheckMate 9ER), so PD-1/PD-L1 monotherapy is never moved up.
    Only combinations already listed as "other" for every possible risk group and not
    contraindicated are promoted; non-ICI options step down only when an ICI
    combination is actually preferred, so a patient who cannot have a checkpoint
    inhibitor keeps a preferred option.
    """
    if case.diagnosis.sarcomatoid is not True:
        return
    reason = because(kb, "therapy.sarcomatoid-favours-ici")
    reasons.append(reason)
    for option, draft in drafts.items():
        if (
            draft.category == "other"
            and not draft.only_if_risk
            and not draft.contraindicated
            and not guideline_views.disputed(draft.positions)
            and _is_ici_combination(kb, option)
        ):
            draft.category = "preferred"
            draft.reasons.append(reason)
    ici_preferred = any(
        d.category == "preferred" and not d.contraindicated and _is_ici_combination(kb, o)
        for o, d in drafts.items()
    )
    if not ici_preferred:
        return
    for option, draft in drafts.items():
        if (
            draft.category == "preferred"
            and option in kb.regimens
            and not _has_class(kb, option, CHECKPOINT_CLASSES)
        ):
            draft.category = "other"
            draft.reasons.append(reason)


def poor_performance(case: Case, kb: KnowledgeBase) -> bool | None:
    """ECOG 3-4 or KPS below 60; None when not recorded or when ECOG 2 leaves it open."""
    ps = case.performance
    if ps is None:
        return None
    if ps.kps is not None:
        return ps.kps < kb.param("therapy.poor-performance-bsc", "kps_below")
    if ps.ecog is not None:
        return ps.ecog >= kb.param("therapy.poor-performance-bsc", "ecog_from")
    return None


def _apply_poor_performance(case: Case, drafts: dict[str, _Draft], kb: KnowledgeBase) -> None:
    """Best supportive care as an option in its own right for ECOG 3-4 / KPS < 60."""
    if poor_performance(case, kb) is not True:
        return
    reason = because(kb, "therapy.poor-performance-bsc")
    for option, draft in drafts.items():
        if option in kb.regimens:
            draft.cautions.append(
                "Performance status is poor (ECOG 3-4 / KPS below 60): the trials behind this "
                "regimen enrolled KPS 70 or more."
            )
    drafts["best-supportive-care"] = _Draft("preferred", [reason])


def _apply_prior_therapy(
    line: Line, drafts: dict[str, _Draft], kb: KnowledgeBase, excluded: list[ExcludedOption]
) -> None:
    if not line.prior_agents and not line.exposure:
        return
    for option in list(drafts):
        agents = _agents(kb, option)
        if agents and line.prior_agents.issuperset(agents):
            excluded.append(
                ExcludedOption(
                    option,
                    because(
                        kb,
                        "therapy.no-repeat-regimen",
                        f"{kb.regimens[option].name} was already given "
                        + (
                            "as adjuvant therapy."
                            if set(agents) <= line.adjuvant_agents
                            else "in a prior line."
                        ),
                    ),
                )
            )
            del drafts[option]
            continue
        if _has_class(kb, option, PD1_AXIS_CLASSES) and "checkpoint-inhibitor" in line.exposure:
            if line.progressed_on_pd1_axis:
                excluded.append(ExcludedOption(option, because(kb, "therapy.no-pd1-rechallenge")))
                del drafts[option]
            else:
                drafts[option].category = "certain-circumstances"
                drafts[option].reasons.append(
                    because(
                        kb,
                        "therapy.no-pd1-rechallenge",
                        "A PD-1/PD-L1 inhibitor was given before; rechallenge is not preferred "
                        "(CONTACT-03, TiNivo-2); only in selected cases where it was not stopped "
                        "for progression.",
                    )
                )


def _apply_belzutifan_indication(
    histology: str,
    line: Line,
    drafts: dict[str, _Draft],
    kb: KnowledgeBase,
    excluded: list[ExcludedOption],
) -> None:
    """Belzutifan only where it was studied and approved (LITESPARK-005, label): clear-cell
    RCC after both a PD-(L)1 inhibitor and a VEGF-TKI."""
    if "belzutifan" not in drafts:
        return
    rule = kb.rule("therapy.belzutifan-indication")
    histologies = set(str(rule.parameters["histologies"]).split(","))
    missing = [
        exposure
        for exposure in ("checkpoint-inhibitor", "vegf-targeted")
        if exposure not in line.exposure
    ]
    if histology in histologies and not missing:
        return
    why = (
        f"not studied or approved for {histology} RCC"
        if histology not in histologies
        else "needs prior " + " and ".join(missing) + " therapy"
    )
    excluded.append(
        ExcludedOption(
            "belzutifan",
            because(kb, rule.id, f"Belzutifan: {why}. {rule.statement}"),
        )
    )
    del drafts["belzutifan"]


def _apply_aldesleukin_fitness(
    case: Case,
    drafts: dict[str, _Draft],
    kb: KnowledgeBase,
    excluded: list[ExcludedOption],
    facts: Facts,
    fitness_of: FitnessOf | None = None,
) -> None:
    """High-dose IL-2 only when every fitness criterion is met (aldesleukin_fitness)."""
    if "aldesleukin" not in drafts:
        return
    fitness = aldesleukin_fitness.assess(case, kb, facts) if fitness_of is None else fitness_of()
    rule = kb.rule(aldesleukin_fitness.RULE)
    if fitness.unmet:
        text = "High-dose IL-2 is not suitable: " + "; ".join(fitness.unmet) + "."
        excluded.append(ExcludedOption("aldesleukin", because(kb, rule.id, text)))
        del drafts["aldesleukin"]
        return
    if fitness.unknown:
        text = (
            "Eligibility for high-dose IL-2 is uncertain until every fitness criterion is "
            "confirmed; not recorded: " + "; ".join(fitness.unknown) + "."
        )
        drafts["aldesleukin"].reasons.append(because(kb, rule.id, text))
        drafts["aldesleukin"].cautions.append(text)
    drafts["aldesleukin"].cautions.append(rule.statement)


def _apply_contraindications(
    case: Case,
    drafts: dict[str, _Draft],
    kb: KnowledgeBase,
    excluded: list[ExcludedOption],
    reasons: list[Reason],
    facts: Facts,
) -> None:
    unknown_relevant: set[str] = set()
    for rule in kb.contraindications:
        flag = facts[rule.comorbidity]
        if flag is False or (flag is None and rule.severity == "caution"):
            continue
        if flag is None:
            if not kb.regimens_affected_by(rule).isdisjoint(drafts):
                unknown_relevant.add(fact_label(rule.comorbidity))
            continue
        affected = sorted(kb.regimens_affected_by(rule).intersection(drafts))
        message = rule_message(case, rule.comorbidity, rule.message, kb)
        reason = Reason(message, rule.id, rule.sources, rule.status.value)
        for option in affected:
            if rule.severity == "absolute":
                excluded.append(ExcludedOption(option, reason))
                del drafts[option]
            elif rule.severity == "relative":
                _demote(drafts[option])
                drafts[option].contraindicated = True
                drafts[option].reasons.append(reason)
                drafts[option].cautions.append(rule.message)
            else:
                drafts[option].cautions.append(rule.message)
    if unknown_relevant:
        reasons.append(
            because(
                kb,
                "therapy.contraindications-unknown",
                "Not recorded, and each could demote or exclude listed regimens: "
                + ", ".join(sorted(unknown_relevant))
                + ".",
            )
        )


_NOT_FOR_CACHE: Memo[str, tuple[Rule, ...]] = Memo("not-for rules", "knowledge", 8)


def _not_for_rules(kb: KnowledgeBase) -> tuple[Rule, ...]:
    rules = _NOT_FOR_CACHE.get(kb.checksum)
    if rules is None:
        rules = tuple(r for r in kb.rules.values() if r.id.startswith("therapy.not-for-"))
        _NOT_FOR_CACHE.put(kb.checksum, rules)
    return rules


def _explicit_exclusions(
    histology: str,
    line: Line,
    possible: tuple[RiskGroupName, ...],
    drafts: dict[str, _Draft],
    kb: KnowledgeBase,
    excluded: list[ExcludedOption],
) -> None:
    """First-line regimens a rule rules out for every possible group (ipi+nivo if favorable)."""
    if line.number != 1:
        return
    for rule in _not_for_rules(kb):
        regimen = str(rule.parameters["regimen"])
        groups = set(str(rule.parameters["risk_groups"]).split(","))
        histologies = set(str(rule.parameters["histologies"]).split(","))
        if histology in histologies and regimen not in drafts and set(possible) <= groups:
            excluded.append(ExcludedOption(regimen, because(kb, rule.id)))


def decide(
    case: Case,
    imdc: RiskResult,
    line: Line,
    kb: KnowledgeBase,
    view: GuidelineViewName = "all",
    facts: Facts | None = None,
    fitness_of: FitnessOf | None = None,
) -> SystemicTherapy:
    """``facts``: the patient's safety facts, when the caller has them already;
    ``fitness_of``: how to get the HD IL-2 fitness (default: assessed from ``case``)."""
    facts = Facts(case, kb) if facts is None else facts
    reasons: list[Reason] = []
    excluded: list[ExcludedOption] = []
    histology = effective_histology(case)
    if histology is None:
        reasons.append(because(kb, "therapy.histology-unknown"))
        table_histology = Histology.CLEAR_CELL.value
    else:
        table_histology = histology.value
    rows, row_reasons = _table_rows(kb, table_histology, line, view)
    reasons.extend(row_reasons)
    possible = imdc.possible_groups
    drafts = _merge(rows, possible, kb, view)
    _explicit_exclusions(table_histology, line, possible, drafts, kb, excluded)
    reasons.extend(line.reasons)
    if brain_metastases(case)[1]:
        # Pivotal trials excluded untreated brain metastases: local therapy comes first.
        reasons.append(because(kb, "local.brain-metastases"))
    _apply_prior_therapy(line, drafts, kb, excluded)
    _apply_belzutifan_indication(table_histology, line, drafts, kb, excluded)
    _apply_contraindications(case, drafts, kb, excluded, reasons, facts)
    _apply_aldesleukin_fitness(case, drafts, kb, excluded, facts, fitness_of)
    _apply_sarcomatoid(case, drafts, kb, reasons)
    _apply_poor_performance(case, drafts, kb)
    if view != "all":
        reasons.append(_view_reason(view, kb))
    excluded.extend(guideline_views.set_aside(view, rows, possible, drafts, excluded, kb))
    options = tuple(
        draft.to_option(option, kb)
        for option, draft in sorted(drafts.items(), key=lambda kv: (_RANK[kv[1].category], kv[0]))
    )
    return SystemicTherapy(
        line=line.number,
        setting="first-line" if line.number == 1 else f"line {line.number} (after {_after(line)})",
        preferred=tuple(o.regimen for o in options if o.category == "preferred"),
        other=tuple(o.regimen for o in options if o.category == "other"),
        certain_circumstances=tuple(
            o.regimen for o in options if o.category == "certain-circumstances"
        ),
        options=options,
        excluded=guideline_views.with_positions(excluded, rows, possible, kb),
        depends_on_unknown_risk=any(o.only_if_risk for o in options)
        or (len(possible) > 1 and _differs(rows, possible)),
        reasons=tuple(_dedupe(reasons)),
        tables=tuple(row.id for row in rows),
        guideline_view=view,
    )


def _view_reason(view: GuidelineViewName, kb: KnowledgeBase) -> Reason:
    rule = kb.rule(guideline_views.VIEW_RULE)
    edition = next(b.edition for b in kb.guideline_positions.bodies if b.id == view)
    return Reason(
        f"Options as {edition} lists them. {rule.statement}",
        rule.id,
        (next(b.source for b in kb.guideline_positions.bodies if b.id == view),),
        rule.status.value,
    )


def _guideline_only(
    rows: list[TherapyTable], possible: tuple[RiskGroupName, ...], option: str, kb: KnowledgeBase
) -> list[Reason]:
    """Why the merged view shows an option its table does not list (a guideline lists it)."""
    reasons: list[Reason] = []
    for row in guideline_views.in_play(rows, possible):
        setting = next((s for s in kb.guideline_positions.settings if s.setting == row.id), None)
        placement = setting.options.get(option) if setting else None
        if placement is not None and placement.merged is not None:
            rule = kb.rule("therapy.guideline-only-option")
            reasons.append(
                Reason(placement.merged.why, rule.id, placement.merged.sources, rule.status.value)
            )
    return reasons


def _differs(rows: list[TherapyTable], possible: tuple[RiskGroupName, ...]) -> bool:
    listings = {
        group: tuple(
            (r.preferred, r.other, r.certain_circumstances) for r in rows if group in r.risk_groups
        )
        for group in possible
    }
    return len(set(listings.values())) > 1


def _after(line: Line) -> str:
    return " and ".join(sorted(line.exposure)) or "other systemic therapy"


def _name(kb: KnowledgeBase, option: str) -> str:
    if option in kb.regimens:
        return kb.regimens[option].name
    return kb.non_drug_options[option].name


def _sources(kb: KnowledgeBase, option: str) -> tuple[str, ...]:
    if option in kb.regimens:
        return kb.regimens[option].sources
    return kb.non_drug_options[option].sources


def _status(kb: KnowledgeBase, option: str) -> str:
    if option in kb.regimens:
        return kb.regimens[option].status.value
    return kb.non_drug_options[option].status.value


def without_surveillance(therapy: SystemicTherapy, decision: Decision) -> SystemicTherapy:
    """Drop active surveillance from the options when its own decision rules it out."""
    if "active-surveillance" not in {o.regimen for o in therapy.options}:
        return therapy
    if decision.recommendation not in ("not-recommended", "not-applicable"):
        return therapy
    reason = decision.reasons[0]
    return replace(
        therapy,
        certain_circumstances=tuple(
            o for o in therapy.certain_circumstances if o != "active-surveillance"
        ),
        preferred=tuple(o for o in therapy.preferred if o != "active-surveillance"),
        other=tuple(o for o in therapy.other if o != "active-surveillance"),
        options=tuple(o for o in therapy.options if o.regimen != "active-surveillance"),
        excluded=(*therapy.excluded, ExcludedOption("active-surveillance", reason)),
    )


# --- promotion: never an unexplained empty "preferred" ------------------------------------


def _usable(option: TherapyOption) -> bool:
    return not option.contraindicated


def _tier_applies(
    tier: FallbackTier, row: TherapyTable, by_id: dict[str, TherapyOption], kb: KnowledgeBase
) -> bool:
    """Has the patient lost what the tier stands in for?"""

    def still_preferred(option_id: str) -> bool:
        option = by_id.get(option_id)
        return option is not None and option.category == "preferred" and _usable(option)

    table_regimens = [o for o in row.preferred if o in kb.regimens]
    if tier.when == "no-checkpoint-inhibitor":
        with_ici = [o for o in table_regimens if _has_class(kb, o, CHECKPOINT_CLASSES)]
        return bool(with_ici) and not any(still_preferred(o) for o in with_ici)
    return bool(table_regimens) and not any(still_preferred(o) for o in by_id if o in kb.regimens)


def _chosen_tier(
    rows: list[TherapyTable],
    group: RiskGroupName | None,
    by_id: dict[str, TherapyOption],
    kb: KnowledgeBase,
) -> tuple[FallbackTier, list[str]] | None:
    """The first applicable tier (table order) with an option the patient can have."""
    for row in rows:
        if group is not None and group not in row.risk_groups:
            continue
        for tier in row.fallback:
            if not _tier_applies(tier, row, by_id, kb):
                continue
            usable = [
                o
                for o in tier.options
                if o in by_id and _usable(by_id[o]) and by_id[o].category != "preferred"
            ]
            if usable:
                return tier, usable
    return None


def _lost_preferred(rows: list[TherapyTable], therapy: SystemicTherapy) -> list[str]:
    by_id = {o.regimen: o for o in therapy.options}
    lost: list[str] = []
    for row in rows:
        for option_id in row.preferred:
            option = by_id.get(option_id)
            if option is None or option.category != "preferred" or option.contraindicated:
                lost.append(option_id)
    return list(dict.fromkeys(lost))


def _promotion_order(option: TherapyOption) -> tuple[int, bool, bool, str]:
    # Best supportive care leads when it is offered for poor performance status.
    return (
        _RANK[option.category],
        option.regimen != "best-supportive-care",
        option.moved_from is not None,
        option.regimen,
    )


def promote(
    therapy: SystemicTherapy, possible: tuple[RiskGroupName, ...], kb: KnowledgeBase
) -> SystemicTherapy:
    """After every exclusion and demotion, move up the guidelines' own fallback options.

    EAU and ESMO name VEGF-TKI monotherapy when a checkpoint inhibitor cannot be given;
    each table carries its fallback tiers as knowledge-base data. If nothing can be
    promoted and no option is preferred, say why and name the next step.
    """
    rows = [t for t in kb.tables_for(therapy.guideline_view) if t.id in therapy.tables]
    by_id = {o.regimen: o for o in therapy.options}
    groups: tuple[RiskGroupName | None, ...] = possible or (None,)
    chosen = [_chosen_tier(rows, g, by_id, kb) for g in groups]
    promoted: dict[str, FallbackTier] = {}
    if all(c is not None for c in chosen):
        common = set.intersection(*(set(c[1]) for c in chosen if c is not None))
        for c in chosen:
            if c is not None:
                for option_id in c[1]:
                    if option_id in common:
                        promoted.setdefault(option_id, c[0])
    if not promoted and therapy.preferred and therapy.no_preferred is None:
        ordered = sorted(therapy.options, key=_promotion_order)
        if all(a is b for a, b in zip(ordered, therapy.options, strict=True)):
            # Nothing moved up, already in order, a preferred option left: the lists
            # below would be rebuilt exactly as they are.
            return therapy
    in_play = [r for r in rows if not possible or set(possible) & set(r.risk_groups)]
    lost = [_name(kb, o) for o in _lost_preferred(in_play, therapy)]
    options: list[TherapyOption] = []
    for option in therapy.options:
        tier = promoted.get(option.regimen)
        if tier is None:
            options.append(option)
            continue
        moved = (
            f"Moved up from {option.category.replace('-', ' ')}: "
            + (f"{', '.join(lost)} cannot be given here. " if lost else "")
            + tier.statement
        )
        options.append(
            replace(
                option,
                category="preferred",
                moved_from=option.category,  # type: ignore[arg-type]
                reasons=(
                    *option.reasons,
                    Reason(moved, "therapy.fallback", tier.sources, tier.status.value),
                ),
            )
        )
    options.sort(key=_promotion_order)
    preferred = tuple(o.regimen for o in options if o.category == "preferred")
    no_preferred = None if preferred else _no_preferred(lost, kb)
    return replace(
        therapy,
        preferred=preferred,
        other=tuple(o.regimen for o in options if o.category == "other"),
        certain_circumstances=tuple(
            o.regimen for o in options if o.category == "certain-circumstances"
        ),
        options=tuple(options),
        no_preferred=no_preferred,
    )


def _no_preferred(lost: list[str], kb: KnowledgeBase) -> NoPreferred:
    rule = kb.rule("therapy.no-preferred")
    text = (
        (f"{', '.join(lost)} cannot be given here, and " if lost else "")
        + "no fallback regimen the guidelines name is free of a recorded contraindication. "
        + rule.statement
    )
    steps = tuple(str(rule.parameters["next_steps"]).split(","))
    return NoPreferred(Reason(text, rule.id, rule.sources, rule.status.value), steps)
