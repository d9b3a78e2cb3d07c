"""Geometry of the survival chart: published median OS by risk group, as SVG.

Drawn on the server (no chart library, no script): bars for every group of each
model, the patient's still-possible groups highlighted. The numbers are the
knowledge base's survival rows for the setting ``assess`` used; nothing is computed
about the patient here.
"""

from __future__ import annotations

from dataclasses import dataclass

from rccnav.core.assessment import Assessment, RiskResult
from rccnav.core.prognosis.risk import GROUP_ORDER
from rccnav.knowledge.model import KnowledgeBase

WIDTH = 560
LABEL_WIDTH = 110
BAR_HEIGHT = 18
ROW_GAP = 6
PANEL_GAP = 34
TOP = 28


@dataclass(frozen=True)
class Bar:
    group: str
    months: float
    possible: bool
    x: float
    y: float
    width: float


@dataclass(frozen=True)
class Panel:
    title: str
    caption: str
    sources: tuple[str, ...]
    review_status: str
    y: float
    bars: tuple[Bar, ...]


@dataclass(frozen=True)
class SurvivalChart:
    panels: tuple[Panel, ...]
    height: float
    width: int
    scale_max: float
    ticks: tuple[tuple[float, float], ...]  # (months, x)
    label_width: int = LABEL_WIDTH


def _setting(result: RiskResult, line: int) -> str:
    if result.survival:
        return result.survival[0].setting
    # No possible group has a figure: show the table for the line being treated.
    return "first-line" if line <= 1 else "second-line"


def survival_chart(assessment: Assessment, kb: KnowledgeBase) -> SurvivalChart:
    line = assessment.systemic_therapy.line
    chosen = []
    for title, result in (("IMDC", assessment.imdc), ("MSKCC", assessment.mskcc)):
        setting = _setting(result, line)
        rows = {
            r.risk_group: r for r in kb.survival if r.model == result.model and r.setting == setting
        }
        if not rows:
            setting = "first-line"
            rows = {
                r.risk_group: r
                for r in kb.survival
                if r.model == result.model and r.setting == setting
            }
        if rows:
            chosen.append((title, result, setting, rows))
    longest = max((r.median_os_months for *_, rows in chosen for r in rows.values()), default=1.0)
    scale_max = float(((int(longest) // 12) + 1) * 12)
    span = WIDTH - LABEL_WIDTH - 70
    panels = []
    y = float(TOP)
    for title, result, setting, rows in chosen:
        bars = []
        for index, group in enumerate(g for g in GROUP_ORDER if g in rows):
            row = rows[group]
            bars.append(
                Bar(
                    group=group,
                    months=row.median_os_months,
                    possible=group in result.possible_groups,
                    x=LABEL_WIDTH,
                    y=y + 16 + index * (BAR_HEIGHT + ROW_GAP),
                    width=round(span * row.median_os_months / scale_max, 1),
                )
            )
        first = next(iter(rows.values()))
        sources = tuple(dict.fromkeys(s for r in rows.values() for s in r.sources))
        statuses = sorted({r.status.value for r in rows.values()})
        panels.append(
            Panel(
                title=f"{title}, {setting}",
                caption=first.cohort,
                sources=sources,
                review_status=", ".join(statuses),
                y=y,
                bars=tuple(bars),
            )
        )
        y += 16 + len(bars) * (BAR_HEIGHT + ROW_GAP) + PANEL_GAP
    ticks = tuple(
        (float(m), LABEL_WIDTH + span * m / scale_max) for m in range(0, int(scale_max) + 1, 12)
    )
    return SurvivalChart(tuple(panels), y + 8, WIDTH, scale_max, ticks)
