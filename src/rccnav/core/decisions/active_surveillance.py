"""Active surveillance candidacy for treatment-naive, indolent disease (Rini 2016 [76])."""

from __future__ import annotations

from rccnav.core.assessment import Decision, Reason, RiskResult
from rccnav.core.case import Case, Site
from rccnav.core.decisions.common import because, brain_metastases, organ_sites
from rccnav.core.decisions.lines import Line
from rccnav.knowledge.model import KnowledgeBase


def decide(case: Case, imdc: RiskResult, line: Line, kb: KnowledgeBase) -> Decision:
    if line.number > 1:
        return Decision("not-applicable", (because(kb, "surveillance.treatment-naive-only"),))
    if line.current is not None:
        running = " + ".join(line.current.agents)
        return Decision(
            "not-applicable",
            (
                because(
                    kb,
                    "surveillance.treatment-naive-only",
                    f"Currently receiving {running}: active surveillance is an alternative to "
                    "starting systemic therapy in treatment-naive patients (Rini 2016), not a "
                    "reason to stop a therapy that is working.",
                ),
            ),
        )
    against: list[Reason] = []
    unknowns: list[str] = []
    if line.adjuvant_refractory is True:
        against.append(because(kb, "surveillance.adjuvant-relapse"))
    elif line.adjuvant_refractory is None:
        unknowns.append("whether the disease recurred during adjuvant therapy or within 6 months")
    if case.diagnosis.sarcomatoid is True:
        against.append(because(kb, "surveillance.sarcomatoid"))
    elif case.diagnosis.sarcomatoid is None:
        unknowns.append("whether the tumour has sarcomatoid features")
    max_factors = kb.param("surveillance.candidate", "max_imdc_factors")
    max_sites = kb.param("surveillance.candidate", "max_organ_sites")
    if imdc.factor_count_min > max_factors:
        against.append(
            because(
                kb,
                "surveillance.candidate",
                f"{imdc.factor_count_min} IMDC factors present: more than {max_factors:.0f}.",
            )
        )
    elif imdc.factor_count_max > max_factors:
        unknowns.append("IMDC factors still unknown")
    d = case.disease
    if d.symptomatic_metastases:
        against.append(because(kb, "surveillance.asymptomatic"))
    elif d.symptomatic_metastases is None:
        unknowns.append("whether the disease is symptomatic")
    if d.rapidly_progressing:
        against.append(because(kb, "surveillance.indolent"))
    sites = organ_sites(case)
    if len(sites) > max_sites:
        against.append(
            because(
                kb,
                "surveillance.candidate",
                f"{len(sites)} organ sites: more than {max_sites:.0f}.",
            )
        )
    if Site.LIVER in sites or brain_metastases(case)[0]:
        against.append(because(kb, "surveillance.no-liver-brain"))
    if d.spinal_cord_compression:
        against.append(because(kb, "surveillance.asymptomatic"))
    if not sites:
        unknowns.append("metastatic sites")
    if against:
        return Decision("not-recommended", tuple(against), tuple(unknowns))
    if unknowns:
        # Unknown is never "not recommended": say what would settle it (issue 8).
        text = (
            "Uncertain: nothing recorded argues against active surveillance, but it would be "
            "settled by: "
            + "; ".join(unknowns)
            + ". "
            + kb.rule("surveillance.candidate").statement
        )
        return Decision(
            "uncertain", (because(kb, "surveillance.candidate", text),), tuple(unknowns)
        )
    return Decision(
        "consider",
        (because(kb, "surveillance.candidate"), because(kb, "surveillance.recompute-imdc")),
    )
