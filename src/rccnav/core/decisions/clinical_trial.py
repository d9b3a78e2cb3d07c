"""Is a clinical trial the better route? (seed: "Clinical trials are needed")."""

from __future__ import annotations

from rccnav.core.assessment import Decision, Reason, SystemicTherapy
from rccnav.core.case import Case
from rccnav.core.decisions.common import because
from rccnav.knowledge.model import KnowledgeBase


def decide(case: Case, therapy: SystemicTherapy, kb: KnowledgeBase) -> Decision:
    reasons: list[Reason] = []
    if "clinical-trial" in therapy.preferred:
        reasons.append(because(kb, "trial.preferred-by-guideline"))
    if case.germline.pathogenic_variants:
        reasons.append(because(kb, "trial.hereditary"))
    if therapy.line >= kb.param("trial.later-lines", "from_line"):
        reasons.append(because(kb, "trial.later-lines"))
    if reasons:
        return Decision("recommended", tuple(reasons))
    return Decision("consider", (because(kb, "trial.always-consider"),))
