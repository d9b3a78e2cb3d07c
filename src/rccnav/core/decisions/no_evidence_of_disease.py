"""No evidence of disease after complete local therapy (M1 NED): adjuvant or surveillance.

After complete metastasectomy or ablation of every site there is no measurable disease:
the options are adjuvant pembrolizumab where the KEYNOTE-564 M1 NED criteria are met, or
imaging surveillance (rule ``therapy.ned-branch``). First-line regimens for metastatic
disease are kept for recurrence, and there is no lesion left for local therapy.
"""

from __future__ import annotations

from rccnav.core.assessment import (
    Decision,
    ExcludedOption,
    Reason,
    SystemicTherapy,
    TherapyOption,
    Warning,
)
from rccnav.core.case import Case, Metastasis
from rccnav.core.decisions.common import because
from rccnav.core.decisions.lines import Line
from rccnav.knowledge.model import KnowledgeBase

ADJUVANT = "pembrolizumab"
SURVEILLANCE = "active-surveillance"


def recurrence_after_ned(case: Case) -> Metastasis | None:
    """A metastasis dated after the complete resection and not itself treated: the NED
    record is out of date (the disease has recurred)."""
    resected = case.disease.complete_resection_date
    if case.disease.no_evidence_of_disease is not True or resected is None:
        return None
    later = [
        m
        for m in case.disease.metastases
        if m.date is not None and m.date > resected and m.treated is not True
    ]
    return min(later, key=lambda m: m.date or resected) if later else None


def without_stale_ned(case: Case, kb: KnowledgeBase) -> tuple[Case, list[Warning]]:
    """Read an out-of-date NED record as recurrence, with a warning saying so."""
    recurrence = recurrence_after_ned(case)
    if recurrence is None:
        return case, []
    rule = kb.rule("therapy.ned-branch")
    warning = Warning(
        "data-quality",
        "warning",
        f"No evidence of disease is recorded after the complete resection of "
        f"{case.disease.complete_resection_date}, but a {recurrence.site.value} metastasis is "
        f"dated {recurrence.date}, later and not treated: taken as recurrence, so the options "
        "are those for metastatic disease, not adjuvant therapy or surveillance after "
        "resection. Correct the record if the lesion was resected or ablated.",
        recurrence.source or "disease.no_evidence_of_disease",
        rule.id,
        rule.sources,
    )
    disease = case.disease.model_copy(update={"no_evidence_of_disease": False})
    return case.model_copy(update={"disease": disease}), [warning]


def applies(case: Case, line: Line) -> bool:
    """NED after complete local therapy, and not on systemic therapy now."""
    return case.disease.no_evidence_of_disease is True and line.current is None


def _option(
    kb: KnowledgeBase, option: str, category: str, reasons: list[Reason], cautions: list[str]
) -> TherapyOption:
    if option in kb.regimens:
        item = kb.regimens[option]
        name, sources, status = item.name, item.sources, item.status.value
    else:
        extra = kb.non_drug_options[option]
        name, sources, status = extra.name, extra.sources, extra.status.value
    return TherapyOption(
        regimen=option,
        category=category,  # type: ignore[arg-type]
        name=name,
        reasons=tuple(reasons),
        sources=sources,
        review_status=status,
        cautions=tuple(cautions),
    )


def systemic_therapy(line: Line, adjuvant: Decision, kb: KnowledgeBase) -> SystemicTherapy:
    branch = because(kb, "therapy.ned-branch")
    surveillance_reason = because(
        kb,
        "therapy.ned-branch",
        "Imaging surveillance after complete local therapy; systemic therapy starts at recurrence.",
    )
    options: list[TherapyOption] = []
    excluded: list[ExcludedOption] = []
    if adjuvant.recommendation in ("eligible", "uncertain"):
        cautions = (
            ["Confirm the KEYNOTE-564 criteria not yet recorded: " + "; ".join(adjuvant.unknowns)]
            if adjuvant.recommendation == "uncertain"
            else []
        )
        options.append(_option(kb, ADJUVANT, "preferred", list(adjuvant.reasons), cautions))
        options.append(_option(kb, SURVEILLANCE, "other", [surveillance_reason], []))
    else:
        options.append(_option(kb, SURVEILLANCE, "preferred", [surveillance_reason], []))
        if adjuvant.reasons:
            excluded.append(ExcludedOption(ADJUVANT, adjuvant.reasons[0]))
    by = {
        o.category: tuple(x.regimen for x in options if x.category == o.category) for o in options
    }
    return SystemicTherapy(
        line=line.number,
        setting="no evidence of disease after complete local therapy (adjuvant or surveillance)",
        preferred=by.get("preferred", ()),
        other=by.get("other", ()),
        certain_circumstances=(),
        options=tuple(options),
        excluded=tuple(excluded),
        depends_on_unknown_risk=False,
        reasons=(branch, *line.reasons),
        tables=(),
    )


def surveillance(kb: KnowledgeBase) -> Decision:
    return Decision(
        "consider",
        (
            because(
                kb,
                "therapy.ned-branch",
                "No evidence of disease after complete local therapy: imaging surveillance, "
                "or adjuvant pembrolizumab where the KEYNOTE-564 criteria are met.",
            ),
        ),
    )
