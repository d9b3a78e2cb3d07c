"""Same-day results that disagree: used only when the disagreement cannot matter.

Two results of the same test on the same day (Hb 14.2 and 12.1 g/dL), or a KPS and an
ECOG on the same day that the ECOG-KPS conversion says are incompatible (KPS 90 and
ECOG 2), are not settled by picking one. Each candidate is tried in the Case: when every
candidate gives the same status for every IMDC and MSKCC factor and raises the same
alerts, the value is used (and the disagreement noted); otherwise the item is unknown,
with a ``data-quality`` warning naming the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rccnav.core.assess import assess
from rccnav.core.case import Case, Measurement, PerformanceStatus

if TYPE_CHECKING:
    from rccnav.adapters.fhir.context import ReadContext


@dataclass(frozen=True, slots=True)
class Conflict:
    """Candidates for one Case item (the first is the one the reader would pick)."""

    field: str  # "performance" or a Labs field name
    candidates: tuple[Measurement | PerformanceStatus, ...]
    shown: tuple[str, ...]  # each candidate in words, with its resource
    #: "same-day" (results that disagree) or "censored" (a value such as ">20.0")
    kind: str = "same-day"
    #: How the candidates are named in the warning.
    wording: str = "same-day results"


def _with(case: Case, field: str, value: Any) -> Case:
    if field == "performance":
        return case.model_copy(update={"performance": value})
    return case.model_copy(update={"labs": case.labs.model_copy(update={field: value})})


def _signature(case: Case, ctx: ReadContext) -> tuple[object, ...]:
    result = assess(case, ctx.kb, ctx.on)
    factors = tuple(
        (f.name, f.status) for model in (result.imdc, result.mskcc) for f in model.factors
    )
    alerts = frozenset((w.code, w.severity) for w in result.warnings if w.code != "data-quality")
    return factors, alerts


def settle(case: Case, ctx: ReadContext) -> Case:
    for conflict in ctx.conflicts:
        label = "performance status" if conflict.field == "performance" else conflict.field
        listed = "; ".join(conflict.shown)
        signatures = {_signature(_with(case, conflict.field, c), ctx) for c in conflict.candidates}
        if conflict.kind == "censored":
            case = _censored(case, conflict, label, listed, len(signatures) == 1, ctx)
            continue
        if len(signatures) == 1:
            ctx.warn(
                f"{label}: {conflict.wording} disagree ({listed}); every one gives the same risk "
                "factor status, so the first is used",
                conflict.candidates[0].source,
                "info",
            )
            continue
        case = _with(case, conflict.field, None)
        ctx.warn(
            f"{label}: {conflict.wording} disagree ({listed}) and they would change the risk "
            "assessment: treated as unknown; record which result is right",
            conflict.candidates[0].source,
        )
    return case


def _censored(
    case: Case, conflict: Conflict, label: str, listed: str, decisive: bool, ctx: ReadContext
) -> Case:
    if decisive:
        ctx.warn(
            f"{label}: censored result {listed} used: it decides every risk factor the same "
            "way whatever the true value",
            conflict.candidates[0].source,
            "info",
        )
        return _with(case, conflict.field, conflict.candidates[0])
    ctx.warn(
        f"{label}: censored result {listed} could lie on either side of a threshold: "
        "treated as unknown; a measured value would settle it",
        conflict.candidates[0].source,
    )
    return _with(case, conflict.field, None)
