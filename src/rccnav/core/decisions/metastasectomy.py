"""Complete resection or ablation of all metastatic sites, and adjuvant pembrolizumab after it."""

from __future__ import annotations

from datetime import date

from rccnav.core.assessment import Decision, Metastasectomy, Reason
from rccnav.core.case import Case, Histology, Site
from rccnav.core.decisions.common import because, good_performance, organ_sites, total_lesions
from rccnav.knowledge.model import KnowledgeBase


def _disease_free_interval_months(case: Case) -> float | None:
    removed, metastatic = case.primary_tumour.nephrectomy_date, case.diagnosis.metastasis_date
    if removed is None or metastatic is None:
        return None
    return (metastatic - removed).days / 30.4375


def _adjuvant(case: Case, kb: KnowledgeBase, on: date) -> Decision:
    """KEYNOTE-564 M1 NED criteria (reference §8.2 [71])."""
    d = case.disease
    if d.no_evidence_of_disease is not True:
        return Decision("not-applicable", (because(kb, "adjuvant.requires-ned"),))
    against: list[Reason] = []
    unknowns: list[str] = []
    histology = case.diagnosis.histology
    if histology is None:
        unknowns.append("histology")
    elif histology is not Histology.CLEAR_CELL:
        against.append(because(kb, "adjuvant.clear-cell-only"))
    if any(m.site in (Site.BONE, Site.BRAIN) for m in d.metastases):
        against.append(because(kb, "adjuvant.soft-tissue-only"))
    removed, resected = case.primary_tumour.nephrectomy_date, d.complete_resection_date
    window = kb.param("adjuvant.within-one-year", "days")
    if removed is None or resected is None:
        unknowns.append("dates of nephrectomy and of complete metastasectomy")
    elif (resected - removed).days > window:
        against.append(because(kb, "adjuvant.within-one-year"))
    if resected is not None and (on - resected).days > kb.param("adjuvant.start-window", "days"):
        against.append(because(kb, "adjuvant.start-window"))
    performance = good_performance(case)
    if performance is None:
        unknowns.append("performance status")
    elif not performance:
        against.append(because(kb, "adjuvant.performance"))
    if any(t.start is None or t.start <= on for t in case.prior_therapies):
        against.append(because(kb, "adjuvant.no-prior-systemic"))
    if against:
        return Decision("not-eligible", tuple(against), tuple(unknowns))
    if unknowns:
        return Decision("uncertain", (because(kb, "adjuvant.pembrolizumab"),), tuple(unknowns))
    return Decision("eligible", (because(kb, "adjuvant.pembrolizumab"),))


def decide(case: Case, kb: KnowledgeBase, on: date) -> Metastasectomy:
    adjuvant = _adjuvant(case, kb, on)
    d = case.disease
    if d.no_evidence_of_disease:
        return Metastasectomy(
            "not-applicable", (because(kb, "metastasectomy.already-ned"),), (), adjuvant
        )
    if not d.metastases:
        return Metastasectomy(
            "not-applicable", (because(kb, "metastasectomy.no-metastases-recorded"),), (), adjuvant
        )
    max_lesions = kb.param("metastasectomy.limited-disease", "max_lesions")
    max_organs = kb.param("metastasectomy.limited-disease", "max_organ_sites")
    lesions, organs = total_lesions(case), len(organ_sites(case))
    against: list[Reason] = []
    unknowns: list[str] = []
    if (lesions is not None and lesions > max_lesions) or organs > max_organs:
        counted = f"{lesions} lesions" if lesions is not None else "Lesion count unknown"
        against.append(
            because(
                kb,
                "metastasectomy.limited-disease",
                f"{counted} in {organs} organ site(s): beyond limited disease "
                f"(at most {max_lesions:.0f} lesions in at most {max_organs:.0f} organ sites).",
            )
        )
    if good_performance(case) is False:
        against.append(because(kb, "metastasectomy.performance"))
    if d.rapidly_progressing:
        against.append(because(kb, "metastasectomy.rapid-progression"))
    resectable = d.all_sites_treatable_locally
    if resectable is None and all(m.resectable is True for m in d.metastases):
        resectable = True
    if resectable is False or (any(m.resectable is False for m in d.metastases) and not resectable):
        against.append(
            because(
                kb,
                "metastasectomy.complete-resection",
                "Not every metastatic site is judged resectable or ablatable; local therapy in "
                "lieu of systemic therapy needs complete treatment of all sites.",
            )
        )
    if against:
        return Metastasectomy("not-recommended", tuple(against), tuple(unknowns), adjuvant)
    if lesions is None:
        unknowns.append("number of lesions at each site")
    if resectable is None:
        unknowns.append("whether every site can be resected or ablated (clinician judgement)")
    if good_performance(case) is None:
        unknowns.append("performance status")
    if unknowns:
        # Unknown is never "not recommended": knowing these could make it "consider".
        return Metastasectomy(
            "uncertain",
            (
                because(
                    kb,
                    "metastasectomy.insufficient-data",
                    "Uncertain: nothing recorded argues against complete local treatment of all "
                    "sites, but it would be settled by: " + "; ".join(unknowns) + ".",
                ),
            ),
            tuple(unknowns),
            adjuvant,
        )
    reasons = [because(kb, "metastasectomy.consider")]
    interval = _disease_free_interval_months(case)
    threshold = kb.param("metastasectomy.disease-free-interval", "months")
    if interval is not None and interval > threshold:
        reasons.append(because(kb, "metastasectomy.disease-free-interval"))
    elif interval is not None:
        reasons.append(
            because(
                kb,
                "metastasectomy.disease-free-interval",
                f"Disease-free interval {interval:.0f} months is not above {threshold:.0f} months: "
                "a less favourable selection factor; discuss at tumour board.",
            )
        )
    if organs == 1:
        reasons.append(because(kb, "metastasectomy.single-organ"))
    return Metastasectomy("consider", tuple(reasons), (), adjuvant)
