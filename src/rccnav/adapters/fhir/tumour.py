"""Is the kidney cancer renal cell carcinoma, and is it the only cancer?

- A kidney-site cancer whose morphology is not RCC (urothelial 8120/3, Wilms,
  lymphoma, sarcoma...) is not an RCC case: with no RCC primary left, the input is
  refused (exit status 2 / HTTP 400 or 422). Refusing, rather than assessing with a
  warning, because every output of rccnav (risk model, regimens, surgery) is RCC-specific
  and a warning can be missed; a wrong recommendation is worse than none.
- Another primary cancer (lung adenocarcinoma, melanoma, lymphoma...) is a critical
  warning: lesions counted as RCC metastases may belong to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rccnav.adapters.fhir.bundle import Entry
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.values import JSON, as_str, codings, concept_texts, dicts

NON_RCC = "non-rcc-kidney-morphology"
OTHER_PRIMARY = "other-primary-cancer"


@dataclass(frozen=True, slots=True)
class OtherCancer:
    source: str
    name: str
    active: bool


def non_rcc_morphology(resource: JSON, ctx: ReadContext) -> str | None:
    """What the kidney tumour is when its morphology says it is not RCC, else None."""
    for ext in dicts(resource.get("extension")):
        if not ctx.term.has_profile("histology-extension", [as_str(ext.get("url")) or ""]):
            continue
        morphology = ext.get("valueCodeableConcept")
        for system, code, display in codings(morphology):
            hit = ctx.term.lookup(NON_RCC, system, code)
            if hit is not None:
                return f"{display or hit.concept.display} (ICD-O-3 {code})"
        for text in concept_texts(morphology):
            if ctx.term.match_text(NON_RCC, text) is not None:
                return text
    return None


def other_primary(entry: Entry, coded: bool, ctx: ReadContext) -> str | None:
    """The name of another primary cancer this Condition records, else None."""
    code = entry.resource.get("code")
    hit = ctx.match(OTHER_PRIMARY, code)
    if hit is None and not coded:
        hit = ctx.match_any(OTHER_PRIMARY, code)
    if hit is None:
        return None
    names = concept_texts(code)
    if names:
        return names[0]
    listed = [c for _s, c, _d in codings(code) if c]
    return f"code {listed[0]}" if listed else "a cancer"


def other_cancer_warning(found: list[OtherCancer]) -> str:
    active = [c for c in found if c.active]
    shown = ", ".join(f"{c.name} ({c.source})" for c in (active or found))
    when = "another primary cancer is recorded" if active else "a history of another cancer"
    return (
        f"{when}: {shown}. Lesions counted as renal cell carcinoma metastases, above all in "
        "the lung, bone, liver, brain and lymph nodes, may belong to it: confirm their origin "
        "(biopsy where it would change treatment) before relying on the RCC risk group and "
        "regimens, and plan treatment with the other cancer's team."
    )
