"""Before treating: the baseline checks and monitoring each offered regimen needs.

For every regimen offered (preferred, other, certain circumstances) and for bone-targeted
agents when they are advised, the checks its label and the toxicity guidelines name
(knowledge base ``monitoring``), each with its sources and review status.
"""

from __future__ import annotations

from rccnav.core.assessment import BeforeTreating, LocalMeasure, MonitoringCheck, SystemicTherapy
from rccnav.core.memo import Memo
from rccnav.knowledge.model import KnowledgeBase, MonitoringItem

BONE_MEASURE = "local.bone-targeted-agents"
BONE_AGENTS = ("zoledronic-acid", "denosumab")

_CACHE: Memo[tuple[str, str, tuple[str, ...]], BeforeTreating | None] = Memo(
    "monitoring checks", "knowledge", 4096
)


def _applies(item: MonitoringItem, agent: str, kb: KnowledgeBase) -> bool:
    return agent in item.agents or kb.agent_class(agent) in item.agent_classes


def checks_for(
    option: str, name: str, agents: tuple[str, ...], kb: KnowledgeBase
) -> BeforeTreating | None:
    """The checks for one regimen (memoised per knowledge-base content)."""
    key = (kb.checksum, option, agents)
    if key in _CACHE:
        return _CACHE[key]
    checks: list[MonitoringCheck] = []
    for item in kb.monitoring:
        needing = tuple(a for a in agents if _applies(item, a, kb))
        if needing:
            checks.append(
                MonitoringCheck(
                    id=item.id,
                    check=item.check,
                    when=item.when,
                    why=item.why,
                    agents=needing,
                    sources=item.sources,
                    review_status=item.status.value,
                )
            )
    result = BeforeTreating(option, name, tuple(checks)) if checks else None
    return _CACHE.put(key, result)


_BY_OPTIONS: Memo[tuple[str, tuple[str, ...], bool], tuple[BeforeTreating, ...]] = Memo(
    "monitoring by options", "knowledge", 4096
)


def decide(
    therapy: SystemicTherapy, local: tuple[LocalMeasure, ...], kb: KnowledgeBase
) -> tuple[BeforeTreating, ...]:
    """The checks for every offered regimen, in option order, then bone-targeted agents."""
    bone = any(m.id == BONE_MEASURE for m in local)
    key = (kb.checksum, tuple([o.regimen for o in therapy.options]), bone)
    found = _BY_OPTIONS.get(key)
    if found is None:
        found = _BY_OPTIONS.put(key, _decide(therapy, bone, kb))
    return found


def _decide(therapy: SystemicTherapy, bone: bool, kb: KnowledgeBase) -> tuple[BeforeTreating, ...]:
    out: list[BeforeTreating] = []
    for option in therapy.options:
        regimen = kb.regimens.get(option.regimen)
        if regimen is None:
            continue  # non-drug options (clinical trial, surveillance)
        found = checks_for(regimen.id, regimen.name, regimen.agents, kb)
        if found is not None:
            out.append(found)
    if bone:
        found = checks_for(
            "bone-targeted-agents",
            "bone-targeted agent (zoledronic acid or denosumab)",
            BONE_AGENTS,
            kb,
        )
        if found is not None:
            out.append(found)
    return tuple(out)
