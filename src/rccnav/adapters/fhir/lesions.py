"""Facts FHIR has no single element for: lesion counts, resectability, renal share, NED, response.

How an EHR records each (docs/fhir-input.md has examples):

- **Lesion count per site**: one mCODE Tumor ``BodyStructure`` per lesion (its
  ``location`` gives the site; the mcode-related-condition extension ties it to the
  secondary cancer Condition), or an ``Observation`` named "number of lesions"
  (``focus`` = the metastasis Condition or a ``bodySite``), or the Condition's own
  wording ("solitary lung metastasis", "3 liver metastases").
- **Resectability**: an ``Observation`` named "resectable" with a yes/no value;
  ``focus`` = the metastasis Condition (or ``bodySite``), or the primary cancer
  Condition for the kidney tumour.
- **Share of tumour burden in the kidney**: an ``Observation`` named so, value a
  percentage (> 50 % = most of the burden) or high / low.
- **No evidence of disease and best response**: mCODE ``CancerDiseaseStatus``
  Observations (LOINC 97509-4 / 88040-1). The latest one on or before the assessment
  date decides NED; those dated during a line of therapy give its best response.

Unknown stays unknown: a site without a count keeps ``lesions = None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from rccnav.adapters.fhir.bundle import Entry
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.observations import effective_date
from rccnav.adapters.fhir.values import (
    JSON,
    as_dict,
    as_number,
    as_str,
    concept_texts,
    dicts,
    profiles_of,
    reference_of,
    status_code,
)
from rccnav.core.case import Metastasis, PriorTherapy, RenalShare, Response, Site

_FINAL = frozenset({"final", "amended", "corrected", "appended"})
_RESPONSE_RANK = {
    Response.COMPLETE: 4,
    Response.PARTIAL: 3,
    Response.STABLE: 2,
    Response.PROGRESSION: 1,
}


@dataclass(slots=True)
class LesionFindings:
    # Condition source (or "site:<site>") -> (count, source)
    counts: dict[str, tuple[int, str]] = field(default_factory=dict)
    tumours: dict[str, list[str]] = field(default_factory=dict)
    resectable: dict[str, tuple[bool, str]] = field(default_factory=dict)
    primary_resectable: tuple[bool, str] | None = None
    renal_share: tuple[RenalShare, str] | None = None
    statuses: list[tuple[date, str, str]] = field(default_factory=list)


def read_lesion_facts(entries: list[Entry], ctx: ReadContext) -> LesionFindings:
    found = LesionFindings()
    for entry in entries:
        if entry.rtype == "BodyStructure":
            _read_tumour(entry, ctx, found)
        elif entry.rtype == "Observation":
            _read_observation(entry, ctx, found)
        elif entry.rtype == "Condition":
            _count_in_text(entry, ctx, found)
    return found


# ------------------------------------------------------------ lesion counts


def _read_tumour(entry: Entry, ctx: ReadContext, found: LesionFindings) -> None:
    resource = entry.resource
    if not ctx.term.has_profile("tumor", profiles_of(resource)):
        return
    if resource.get("active") is False:
        ctx.ignore(entry, "tumour no longer present (BodyStructure.active false)")
        return
    key = None
    for ext in dicts(resource.get("extension")):
        if ctx.term.has_profile("related-condition-extension", [as_str(ext.get("url")) or ""]):
            target = ctx.index.resolve_entry(reference_of(ext.get("valueReference")))
            key = target.source if target is not None else None
    if key is None:
        site = ctx.match_any("metastasis-body-site", resource.get("location"))
        key = f"site:{site}" if site else None
    if key is None:
        ctx.warn("tumour (BodyStructure) with no related Condition or location", entry.source)
        return
    found.tumours.setdefault(key, []).append(entry.source)
    entry.used = True


def _count_in_text(entry: Entry, ctx: ReadContext, found: LesionFindings) -> None:
    for text in concept_texts(entry.resource.get("code")):
        hit = ctx.term.match_text("lesion-count-text", text)
        if hit is None or not hit.target:
            continue
        if hit.target == "many":
            ctx.warn(f"{text!r}: several lesions recorded without a count", entry.source, "info")
            return
        found.counts.setdefault(entry.source, (int(hit.target), entry.source))
        return


def _focus_keys(resource: JSON, ctx: ReadContext) -> list[str]:
    """What an Observation is about: focus Conditions, else its bodySite."""
    keys: list[str] = []
    for ref in dicts(resource.get("focus")):
        target = ctx.index.resolve_entry(reference_of(ref))
        if target is not None:
            keys.append(target.source)
    if not keys:
        site = ctx.match_any("metastasis-body-site", resource.get("bodySite"))
        if site:
            keys.append(f"site:{site}")
    return keys


def _read_observation(entry: Entry, ctx: ReadContext, found: LesionFindings) -> None:
    resource = entry.resource
    if status_code(resource.get("status")) not in _FINAL:
        return
    when = effective_date(resource)
    if when is None or when.day > ctx.on:
        return
    code = resource.get("code")
    if ctx.match("observation-kind", code) == "disease-status" or ctx.term.has_profile(
        "cancer-disease-status", profiles_of(resource)
    ):
        status = ctx.match_any("disease-status", resource.get("valueCodeableConcept"))
        if status:
            found.statuses.append((when.day, status, entry.source))
            entry.used = True
        return
    kind = next(
        (
            h.target
            for t in concept_texts(code)
            if (h := ctx.term.match_text("lesion-observation", t))
        ),
        None,
    )
    if kind == "lesion-count":
        _lesion_count(entry, ctx, found)
    elif kind == "resectable":
        _resectable(entry, ctx, found)
    elif kind == "renal-share":
        _renal_share(entry, ctx, found)


def _lesion_count(entry: Entry, ctx: ReadContext, found: LesionFindings) -> None:
    resource = entry.resource
    number = as_number(resource.get("valueInteger"))
    quantity = as_dict(resource.get("valueQuantity"))
    if number is None and quantity is not None and not quantity.get("comparator"):
        number = as_number(quantity.get("value"))
    if number is None or number < 0 or number != int(number):
        ctx.warn("lesion count is not a whole number; not used", entry.source)
        return
    keys = _focus_keys(resource, ctx)
    if not keys:
        ctx.warn("lesion count without the metastasis or site it counts; not used", entry.source)
        return
    for key in keys:
        found.counts[key] = (int(number), entry.source)  # an explicit count wins over text
    entry.used = True


def _yes_no(resource: JSON, ctx: ReadContext) -> bool | None:
    if isinstance(resource.get("valueBoolean"), bool):
        return bool(resource["valueBoolean"])
    target = ctx.match_any("yes-no", resource.get("valueCodeableConcept"))
    if not target:
        text = as_str(resource.get("valueString"))
        hit = ctx.term.match_text("yes-no", text) if text else None
        target = hit.target if hit else None
    return {"true": True, "false": False}.get(target or "")


def _resectable(entry: Entry, ctx: ReadContext, found: LesionFindings) -> None:
    resource = entry.resource
    answer = _yes_no(resource, ctx)
    if answer is None:
        ctx.warn("resectability recorded without a yes/no answer; not used", entry.source)
        return
    keys = _focus_keys(resource, ctx)
    primary = [
        k
        for ref in dicts(resource.get("focus"))
        if (t := ctx.index.resolve_entry(reference_of(ref))) is not None
        and ctx.match_any("rcc-primary", t.resource.get("code")) is not None
        for k in [t.source]
    ]
    if primary:
        found.primary_resectable = (answer, entry.source)
        keys = [k for k in keys if k not in primary]
    for key in keys:
        found.resectable[key] = (answer, entry.source)
    if not keys and not primary:
        ctx.warn("resectability without the lesion or site it refers to; not used", entry.source)
        return
    entry.used = True


def _renal_share(entry: Entry, ctx: ReadContext, found: LesionFindings) -> None:
    resource = entry.resource
    quantity = as_dict(resource.get("valueQuantity"))
    share: RenalShare | None = None
    if quantity is not None and as_number(quantity.get("value")) is not None:
        value = as_number(quantity.get("value")) or 0.0
        unit = as_str(quantity.get("code")) or as_str(quantity.get("unit")) or "%"
        percent = value * 100 if unit in ("1", "{fraction}") else value
        # "Most of the tumour burden in the kidney" (KCRNC): more than half; less than
        # half is small relative to the extrarenal disease. Exactly half decides nothing.
        share = RenalShare.HIGH if percent > 50 else (RenalShare.LOW if percent < 50 else None)
    else:
        texts = concept_texts(resource.get("valueCodeableConcept"))
        texts += [t for t in [as_str(resource.get("valueString"))] if t]
        for text in texts:
            if re.search(r"\b(high|most|majority|predominant)", text, re.I):
                share = RenalShare.HIGH
            elif re.search(r"\b(low|small|minority|minor)", text, re.I):
                share = RenalShare.LOW
    if share is None:
        ctx.warn("share of tumour burden in the kidney cannot be read; not used", entry.source)
        return
    found.renal_share = (share, entry.source)
    entry.used = True


# ------------------------------------------------------------------ applying


def apply_lesions(
    metastases: tuple[Metastasis, ...],
    by_condition: dict[str, list[int]],
    found: LesionFindings,
    ctx: ReadContext,
) -> tuple[Metastasis, ...]:
    """Lesion counts and resectability onto the metastases read from Conditions."""
    owner = {index: source for source, indexes in by_condition.items() for index in indexes}
    per_site: dict[Site, list[int]] = {}
    for number, metastasis in enumerate(metastases):
        per_site.setdefault(metastasis.site, []).append(number)
    result: list[Metastasis] = []
    for number, metastasis in enumerate(metastases):
        source = owner.get(number, "")
        site_key = f"site:{metastasis.site.value}"
        alone = len(per_site[metastasis.site]) == 1
        update: dict[str, object] = {}
        count = _count_for(source, site_key, alone, found)
        if count is not None:
            update["lesions"] = count[0]
            update["source"] = _join(metastasis.source, count[1])
        resectable = found.resectable.get(source) or (
            found.resectable.get(site_key) if alone else None
        )
        if resectable is not None:
            update["resectable"] = resectable[0]
            update["source"] = _join(str(update.get("source", metastasis.source)), resectable[1])
        result.append(metastasis.model_copy(update=update) if update else metastasis)
    return tuple(result)


def _count_for(
    source: str, site_key: str, alone: bool, found: LesionFindings
) -> tuple[int, str] | None:
    if source in found.counts:
        return found.counts[source]
    if source in found.tumours:
        tumours = found.tumours[source]
        return len(tumours), ", ".join(tumours)
    if alone and site_key in found.counts:
        return found.counts[site_key]
    if alone and site_key in found.tumours:
        tumours = found.tumours[site_key]
        return len(tumours), ", ".join(tumours)
    return None


def _join(first: str | None, second: str) -> str:
    parts = [p for p in (first or "").split(", ") if p]
    return ", ".join(dict.fromkeys([*parts, *second.split(", ")]))


def disease_status(
    found: LesionFindings,
    metastases: tuple[Metastasis, ...],
    ever_metastatic: bool,
    ctx: ReadContext,
) -> dict[str, object]:
    """NED from the latest CancerDiseaseStatus, when metastatic disease was recorded before."""
    if not found.statuses:
        return {}
    day, status, source = max(found.statuses, key=lambda s: s[0])
    if status != "ned" or not ever_metastatic:
        return {}
    if any(m.date is not None and m.date > day for m in metastases):
        ctx.warn(
            f"no evidence of disease recorded on {day}, but a metastasis is dated later: "
            "not taken as NED",
            source,
        )
        return {}
    if metastases:
        ctx.warn(
            f"no evidence of disease recorded on {day} while metastasis Conditions are still "
            "listed as active: the disease status is taken as current; update the problem list",
            source,
            "info",
        )
    return {"no_evidence_of_disease": True, "sources": {"no_evidence_of_disease": source}}


def with_best_response(
    lines: tuple[PriorTherapy, ...], found: LesionFindings, ctx: ReadContext
) -> tuple[PriorTherapy, ...]:
    """Best response per line from the disease-status assessments dated within it."""
    if not found.statuses:
        return lines
    result: list[PriorTherapy] = []
    for line in lines:
        if line.best_response is not None or line.start is None:
            result.append(line)
            continue
        end = line.end or ctx.on
        seen = [
            _response(status) for day, status, _source in found.statuses if line.start < day <= end
        ]
        ranked = [r for r in seen if r is not None]
        if ranked:
            best = max(ranked, key=lambda r: _RESPONSE_RANK[r])
            line = line.model_copy(update={"best_response": best})
        result.append(line)
    return tuple(result)


def _response(status: str) -> Response | None:
    if status == "ned":
        return Response.COMPLETE
    try:
        return Response(status)
    except ValueError:
        return None
