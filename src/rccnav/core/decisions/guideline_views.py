"""Which guideline lists each option: NCCN, EAU and ESMO side by side.

The positions are knowledge-base data (``guideline_positions.yaml``), resolved at load
time; this module picks those of the settings in play for the patient, states where the
guidelines disagree, and sets aside (with the reason) what a single guideline's view does
not list, so no option any guideline lists is ever dropped silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from rccnav.core.assessment import (
    ExcludedOption,
    GuidelinePosition,
    Reason,
    RiskGroupName,
)
from rccnav.core.memo import Memo
from rccnav.knowledge.model import KnowledgeBase, ResolvedPosition, TherapyTable

VIEW_RULE = "therapy.guideline-view"

Positions = tuple[tuple[GuidelinePosition, ...], str | None]
_CACHE: Memo[tuple[str, tuple[str, ...], tuple[str, ...], str], Positions] = Memo(
    "guideline positions", "knowledge", 8192
)


def in_play(
    rows: Sequence[TherapyTable], possible: tuple[RiskGroupName, ...]
) -> list[TherapyTable]:
    """The rows that apply to at least one IMDC group still possible."""
    if not possible:
        return list(rows)
    return [r for r in rows if not set(r.risk_groups).isdisjoint(possible)]


def _position(found: ResolvedPosition, groups: tuple[RiskGroupName, ...]) -> GuidelinePosition:
    return GuidelinePosition(
        guideline=found.body,
        listing=found.listing,
        text=found.text,
        strength=found.strength,
        condition=found.condition,
        sources=found.sources,
        review_status=found.status.value,
        risk_groups=groups,
    )


def positions_for(
    kb: KnowledgeBase,
    rows: Sequence[TherapyTable],
    possible: tuple[RiskGroupName, ...],
    option: str,
) -> Positions:
    """The guidelines' positions on ``option`` and the disagreement statement (memoised)."""
    key = (kb.checksum, tuple(r.id for r in rows), possible, option)
    cached = _CACHE.get(key)
    if cached is None:
        cached = _positions_uncached(kb, in_play(rows, possible), possible, option)
        _CACHE.put(key, cached)
    return cached


def _positions_uncached(
    kb: KnowledgeBase,
    rows: list[TherapyTable],
    possible: tuple[RiskGroupName, ...],
    option: str,
) -> Positions:
    found = [(row, kb.positions(row.id, option)) for row in rows if kb.positions(row.id, option)]
    if not found:
        return (), None
    # The same position for every row in play is shown once, without risk groups.
    by_text: dict[tuple[str, str], list[RiskGroupName]] = {}
    first: dict[tuple[str, str], ResolvedPosition] = {}
    for row, positions in found:
        groups = [g for g in possible if g in row.risk_groups]
        for position in positions:
            key = (position.body, position.text)
            first.setdefault(key, position)
            by_text.setdefault(key, []).extend(groups)
    every = {g for groups in by_text.values() for g in groups}
    split = len(found) > 1 and any(set(groups) != every for groups in by_text.values())
    out = tuple(
        _position(first[key], tuple(dict.fromkeys(groups)) if split else ())
        for key, groups in sorted(by_text.items(), key=lambda kv: _order(kv[0][0]))
    )
    statements = [(row, kb.disagreement_index.get(row.id, {}).get(option)) for row, _ in found]
    said = [(row, text) for row, text in statements if text]
    if not said:
        return out, None
    if len(found) == 1 or not split:
        return out, said[0][1]
    return out, " ".join(
        f"For {' or '.join(g for g in possible if g in row.risk_groups)} risk: {text}"
        for row, text in said
    )


def _order(body: str) -> int:
    return ("nccn", "eau", "esmo").index(body)


def disputed(positions: Iterable[GuidelinePosition]) -> bool:
    """A guideline advises against it here: no modifier may move it up."""
    return any(p.listing == "not-recommended" for p in positions)


def set_aside(
    view: str,
    rows: Sequence[TherapyTable],
    possible: tuple[RiskGroupName, ...],
    shown: Iterable[str],
    excluded: Sequence[ExcludedOption],
    kb: KnowledgeBase,
) -> list[ExcludedOption]:
    """Options a guideline lists here that this view does not: set aside, with the reason."""
    done = {*shown, *(e.regimen for e in excluded)}
    out: list[ExcludedOption] = []
    for row in in_play(rows, possible):
        for option in kb.unlisted_index.get(view, {}).get(row.id, ()):
            if option in done:
                continue
            done.add(option)
            positions, disagreement = positions_for(kb, rows, possible, option)
            out.append(
                ExcludedOption(
                    option,
                    _why_not_listed(view, positions, kb),
                    positions,
                    disagreement,
                )
            )
    return out


def _why_not_listed(
    view: str, positions: tuple[GuidelinePosition, ...], kb: KnowledgeBase
) -> Reason:
    rule = kb.rule(VIEW_RULE)
    own = [p for p in positions if p.guideline == view]
    if own:
        text = f"Not in the {kb.guideline_name(view)} list for this setting: {own[0].text}."
    else:
        text = "No guideline lists it for this setting."
    sources = tuple(dict.fromkeys(s for p in own for s in p.sources)) or rule.sources
    # The guideline's position is what sets it aside: its review status is the one to show.
    status = own[0].review_status if own else rule.status.value
    return Reason(text, rule.id, sources, status)


def with_positions(
    excluded: Iterable[ExcludedOption],
    rows: Sequence[TherapyTable],
    possible: tuple[RiskGroupName, ...],
    kb: KnowledgeBase,
) -> tuple[ExcludedOption, ...]:
    """Excluded options keep the guidelines' positions, so a disagreement stays visible."""
    out: list[ExcludedOption] = []
    for item in excluded:
        if item.guideline_positions:
            out.append(item)
            continue
        positions, disagreement = positions_for(kb, rows, possible, item.regimen)
        out.append(
            replace(item, guideline_positions=positions, guideline_disagreement=disagreement)
        )
    return tuple(out)
