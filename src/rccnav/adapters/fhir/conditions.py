"""Conditions: the primary RCC, its metastases, cord compression, comorbidities, symptoms.

Codes decide; the text of a Condition is only read when none of its codings is
from a code system rccnav knows (a local or uncoded problem-list entry), so a
coded "tympanic membrane perforation" never becomes a GI perforation risk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from rccnav.adapters.fhir.bundle import Entry
from rccnav.adapters.fhir.context import ReadContext
from rccnav.adapters.fhir.tumour import OtherCancer, non_rcc_morphology, other_primary
from rccnav.adapters.fhir.values import (
    JSON,
    FhirDate,
    as_str,
    codings,
    concept_texts,
    dicts,
    extension_urls,
    last_possible_day,
    parse_date,
    period_start,
    profiles_of,
    status_code,
)
from rccnav.core.case import Histology, Metastasis, Site

ACTIVE = frozenset({"active", "recurrence", "relapse"})
UNCONFIRMED = frozenset({"unconfirmed", "provisional", "differential"})

# (value set, Comorbidities field, recency parameter or None). Reference §13.
COMORBIDITY_SETS: tuple[tuple[str, str, str | None], ...] = (
    ("autoimmune-disease", "active_autoimmune_disease", None),
    ("organ-transplant", "organ_transplant", None),
    ("stem-cell-transplant", "allogeneic_stem_cell_transplant", None),
    ("pregnancy", "pregnancy", "pregnancy_window_days"),
    ("uncontrolled-hypertension", "uncontrolled_hypertension", "uncontrolled_hypertension_days"),
    ("heart-failure", "heart_failure", None),
    ("pneumonitis", "active_pneumonitis", None),
    ("hepatic-impairment", "moderate_severe_hepatic_impairment", None),
    ("qtc-prolongation", "qtc_prolongation", None),
    ("recent-bleeding", "recent_bleeding", "recent_event_days"),
    ("arterial-thromboembolism", "recent_arterial_thromboembolism", "recent_event_days"),
    ("gi-perforation-risk", "gi_perforation_risk", None),
)


@dataclass(slots=True)
class Primary:
    entry: Entry
    dates: list[FhirDate]
    histology: Histology | None
    histology_basis: str | None
    sarcomatoid: bool | None


@dataclass(slots=True)
class ConditionFindings:
    primaries: list[Primary] = field(default_factory=list)
    metastases: list[Metastasis] = field(default_factory=list)
    metastasis_dates: list[tuple[date, str]] = field(default_factory=list)
    #: Last possible day of a metastasis date given as a month or year, by source.
    metastasis_latest: dict[str, date] = field(default_factory=dict)
    metastasis_conditions: dict[str, list[int]] = field(default_factory=dict)
    cord_compression: str | None = None
    comorbidities: dict[str, str] = field(default_factory=dict)
    haematuria: str | None = None
    flank_pain: str | None = None
    #: Kidney cancers whose morphology is not RCC: (source, what it is).
    non_rcc: list[tuple[str, str]] = field(default_factory=list)
    other_cancers: list[OtherCancer] = field(default_factory=list)


_DATE_FIELDS = ("onsetDateTime", "recordedDate", "dateRecorded", "abatementDateTime")


def condition_dates(resource: JSON, ctx: ReadContext) -> list[FhirDate]:
    """Onset, recorded and asserted dates (mCODE / core extension), in that order."""
    found = [
        parse_date(resource.get("onsetDateTime")),
        period_start(resource.get("onsetPeriod")),
        parse_date(resource.get("recordedDate")),
        parse_date(resource.get("dateRecorded")),  # DSTU2 name still sent by some systems
    ]
    for ext in dicts(resource.get("extension")):
        url = as_str(ext.get("url")) or ""
        if ctx.term.has_profile("asserted-date-extension", [url]):
            found.append(parse_date(ext.get("valueDateTime")))
    return [d for d in found if d is not None]


def earliest_sensible(
    dates: list[FhirDate], ctx: ReadContext, source: str | None = None
) -> FhirDate | None:
    """Earliest date that is neither after the assessment date nor before birth.

    A date before birth is an error in the record; with ``source`` it is warned about
    (a later date of the same Condition is then used, and says so).
    """
    birth = ctx.birth_date
    if source is not None and birth is not None:
        for d in dates:
            if d.day < birth:
                ctx.warn(f"date {d.text} is before the birth date; not used", source)
    sensible = [d for d in dates if d.day <= ctx.on and (birth is None or d.day >= birth)]
    return min(sensible, key=lambda d: d.day) if sensible else None


def read_condition(entry: Entry, ctx: ReadContext, found: ConditionFindings) -> None:
    resource = entry.resource
    verification = status_code(resource.get("verificationStatus"))
    if verification in ("entered-in-error", "refuted"):
        ctx.ignore(entry, f"verificationStatus {verification}: not used")
        return
    ctx.warn_invalid_dates(entry, _DATE_FIELDS)
    code = resource.get("code")
    coded = ctx.has_known_system(code)
    hits = ctx.matches(code)  # every value set the codes are in, looked up once
    kind = _classify(resource, code, coded, hits, ctx)
    if kind == "primary":
        if verification in UNCONFIRMED:
            ctx.warn(
                f"the kidney cancer diagnosis is recorded as {verification}: this assessment "
                "assumes a confirmed renal cell carcinoma; confirm the diagnosis "
                "(histology) before acting on it",
                entry.source,
            )
        _read_primary(entry, coded, ctx, found)
        return
    clinical = status_code(resource.get("clinicalStatus"))
    active = clinical is None or clinical in ACTIVE
    if kind is None and verification not in UNCONFIRMED:
        cancer = other_primary(entry, coded, ctx)
        if cancer is not None:
            found.other_cancers.append(OtherCancer(entry.source, cancer, active))
            entry.used = True
            return
    dates = condition_dates(resource, ctx)
    onset = earliest_sensible(dates, ctx, entry.source)
    if dates and onset is None and all(d.day > ctx.on for d in dates):
        ctx.ignore(
            entry, f"recorded {min(d.day for d in dates)}, after the assessment date {ctx.on}"
        )
        return
    if verification in UNCONFIRMED:
        _unconfirmed(entry, kind, verification, ctx)
        return
    if kind == "secondary":
        _read_secondary(entry, onset, active, coded, ctx, found)
    elif kind == "cord-compression":
        if active:
            found.cord_compression = found.cord_compression or entry.source
            entry.used = True
    else:
        _read_comorbidity(entry, code, (coded, hits), onset, active, ctx, found)


def _classify(
    resource: JSON, code: object, coded: bool, hits: dict[str, str], ctx: ReadContext
) -> str | None:
    if "rcc-primary" in hits:
        return "primary"
    profiles = profiles_of(resource)
    if "metastasis-condition" in hits or ctx.term.has_profile(
        "secondary-cancer-condition", profiles
    ):
        return "secondary"
    if "spinal-cord-compression" in hits:
        return "cord-compression"
    if coded:
        return None
    # Uncoded or locally coded: text decides, metastasis before primary so that
    # "metastatic RCC to the lung" is a metastasis, not a second primary.
    for text in concept_texts(code):
        if ctx.term.match_text("metastasis-condition", text):
            return "secondary"
    if any(ctx.term.match_text("spinal-cord-compression", t) for t in concept_texts(code)):
        return "cord-compression"
    if any(ctx.term.match_text("rcc-primary", t) for t in concept_texts(code)):
        return "primary"
    return None


def _unconfirmed(entry: Entry, kind: str | None, verification: str, ctx: ReadContext) -> None:
    if kind == "secondary":
        ctx.warn(
            f"metastasis recorded as {verification}: not counted until confirmed",
            entry.source,
        )
    elif kind == "cord-compression":
        ctx.warn(
            f"spinal cord compression recorded as {verification}: confirm urgently", entry.source
        )
    else:
        ctx.ignore(entry, f"verificationStatus {verification}: not used")


# ------------------------------------------------------------------ primary


def _read_primary(entry: Entry, coded: bool, ctx: ReadContext, found: ConditionFindings) -> None:
    resource = entry.resource
    if not coded:
        ctx.warn(
            "renal cell carcinoma recognised from the Condition's text only", entry.source, "info"
        )
    entry.used = True
    not_rcc = non_rcc_morphology(resource, ctx)
    if not_rcc is not None:
        found.non_rcc.append((entry.source, not_rcc))
        return
    histology, basis, sarcomatoid = _histology(resource, ctx, entry)
    found.primaries.append(
        Primary(entry, condition_dates(resource, ctx), histology, basis, sarcomatoid)
    )


def _histology(
    resource: JSON, ctx: ReadContext, entry: Entry
) -> tuple[Histology | None, str | None, bool | None]:
    """Histology from the mCODE morphology extension, then the disorder code, then text."""
    texts: list[str] = []
    sarcomatoid: bool | None = None
    target: str | None = None
    basis: str | None = None
    for ext in dicts(resource.get("extension")):
        if not ctx.term.has_profile("histology-extension", [as_str(ext.get("url")) or ""]):
            continue
        morphology = ext.get("valueCodeableConcept")
        texts.extend(concept_texts(morphology))
        for system, code, _display in codings(morphology):
            hit = ctx.term.lookup("histology", system, code)
            if hit is not None:
                target, basis = hit.target, f"morphology {code}"
                sarcomatoid = True if hit.concept.sarcomatoid else sarcomatoid
                break
        else:
            listed = [code for _s, code, _d in codings(morphology) if code]
            if listed:
                ctx.warn(f"morphology code(s) {', '.join(listed)} not recognised", entry.source)
    code = resource.get("code")
    texts.extend(concept_texts(code))
    if target is None:
        implied = ctx.match("rcc-primary", code)
        if implied:
            target, basis = implied, "diagnosis code"
    if target in (None, "other", "unknown"):
        # "Renal cell carcinoma, unclassified" is ICD-O-3 8312/3 (RCC, NOS) with a qualifier
        # in its text: the text makes it the unclassified subtype (non-clear-cell pathway).
        refined = _histology_from_text(texts, ctx)
        if refined is not None:
            target, basis = refined, (basis + " and text" if basis else "text")
    if any(ctx.term.match_text("sarcomatoid-text", t) for t in texts):
        sarcomatoid = True
    if target in (None, "unknown"):
        return None, basis, sarcomatoid
    return Histology(target), basis, sarcomatoid


def _histology_from_text(texts: list[str], ctx: ReadContext) -> str | None:
    for text in texts:
        hit = ctx.term.match_text("histology", text)
        if hit is not None:
            return hit.target
    return None


# --------------------------------------------------------------- metastases


def _read_secondary(
    entry: Entry,
    onset: FhirDate | None,
    active: bool,
    coded: bool,
    ctx: ReadContext,
    found: ConditionFindings,
) -> None:
    latest: date | None = None
    if onset is not None:
        found.metastasis_dates.append((onset.day, entry.source))
        if not onset.precise:
            latest = min(last_possible_day(onset), ctx.on)
            latest = latest if latest > onset.day else None
        if latest is not None:
            found.metastasis_latest[entry.source] = latest
            ctx.warn(
                f"metastasis date given only as {onset.text!r}: any day from {onset.day} to "
                f"{latest}; where that changes a decision, it is unknown",
                entry.source,
                "info",
            )
    entry.used = True
    if not active:
        ctx.ignore(
            entry, "metastasis no longer active (clinicalStatus); dates metastatic disease only"
        )
        return
    sites = _sites(entry.resource, ctx)
    if not sites:
        ctx.warn("metastasis site not coded; recorded as 'other'", entry.source, "info")
        sites = [Site.OTHER]
    indexes = found.metastasis_conditions.setdefault(entry.source, [])
    for site in sites:
        indexes.append(len(found.metastases))
        found.metastases.append(
            Metastasis(
                site=site,
                date=onset.day if onset else None,
                date_latest=latest,
                source=entry.source,
            )
        )


def _sites(resource: JSON, ctx: ReadContext) -> list[Site]:
    """Sites from bodySite (most specific), else from the condition code and its text."""
    sites: list[Site] = []
    for body_site in dicts(resource.get("bodySite")):
        target = ctx.match("metastasis-body-site", body_site)
        if target is None and not ctx.has_known_system(body_site):
            target = ctx.match_any("metastasis-body-site", body_site)
        if target and Site(target) not in sites:
            sites.append(Site(target))
    if sites:
        return sites
    code = resource.get("code")
    target = ctx.match("metastasis-condition", code)
    if target in (None, "", "other"):
        for text in concept_texts(code):
            hit = ctx.term.match_text("metastasis-condition", text)
            if hit is not None and hit.target:
                target = hit.target
                break
    return [Site(target)] if target else []


def site_of(body_sites: object, ctx: ReadContext) -> list[Site]:
    """Metastatic sites named by a Procedure's bodySite list."""
    return _sites({"bodySite": body_sites}, ctx)


# ------------------------------------------------------------- comorbidity


def _read_comorbidity(
    entry: Entry,
    code: object,
    coding: tuple[bool, dict[str, str]],
    onset: FhirDate | None,
    active: bool,
    ctx: ReadContext,
    found: ConditionFindings,
) -> None:
    """``coding``: whether a code system is known, and the value sets the codes are in."""
    matched = False
    for value_set, field_name, recency in COMORBIDITY_SETS:
        hit = ctx.matched(value_set, code, coding[1], not coding[0])
        if hit is None:
            continue
        matched = True
        if not active:
            ctx.ignore(entry, f"{field_name.replace('_', ' ')}: not active (clinicalStatus)")
            continue
        if recency is not None and not _recent(onset, ctx.term.param(recency), ctx.on):
            when = onset.text if onset else "no date"
            ctx.ignore(
                entry, f"{field_name.replace('_', ' ')}: onset {when} is not recent enough to count"
            )
            continue
        found.comorbidities.setdefault(field_name, entry.source)
        entry.used = True
        if value_set == "stem-cell-transplant" and not _is_gvhd(code, ctx):
            ctx.warn(
                "stem-cell / bone-marrow transplant status: allogeneic assumed (the code does not "
                "say); review",
                entry.source,
                "info",
            )
    symptom = _symptom(code, coding, ctx)
    if symptom and active:
        matched = True
        entry.used = True
        if symptom == "hematuria":
            found.haematuria = found.haematuria or entry.source
        else:
            found.flank_pain = found.flank_pain or entry.source
    if not matched:
        return


def _symptom(code: object, coding: tuple[bool, dict[str, str]], ctx: ReadContext) -> str | None:
    for value_set in ("hematuria", "flank-pain"):
        if ctx.matched(value_set, code, coding[1], not coding[0]) is not None:
            return value_set
    return None


def _recent(onset: FhirDate | None, days: int, on: date) -> bool:
    return onset is not None and onset.day >= on - timedelta(days=days)


def _is_gvhd(code: object, ctx: ReadContext) -> bool:
    return any(
        (c or "").upper().replace(".", "").startswith("D8981") for _s, c, _d in codings(code)
    )


def has_extension(resource: JSON, kind: str, ctx: ReadContext) -> bool:
    return ctx.term.has_profile(kind, extension_urls(resource))
