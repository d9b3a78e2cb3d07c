"""Prefetch templates, and turning a hook call's data into one FHIR Bundle.

The templates ask for what the FHIR reader reads: the Patient, Conditions,
the Observations whose LOINC codes the terminology maps (performance status,
IMDC/MSKCC labs, staging, genetics), medications and procedures. Whatever the
CDS Client did not prefetch (a missing key, or an OperationOutcome in its place)
is fetched from ``fhirServer``; searchset pages are followed. The result, with
the draft orders of an order hook, becomes one collection Bundle for
``read_fhir`` — the same reader the CLI uses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rccnav.adapters.service.fhir_client import FetchError, FhirFetcher

PATIENT_KEY = "patient"

# Observation codes come from the terminology the reader uses ("observation-kind").
OBSERVATION_VALUE_SET = "observation-kind"


class PrefetchUnavailable(Exception):
    """Required data is neither prefetched nor fetchable: HTTP 412."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"prefetch key {key!r}: {why}")
        self.key = key
        self.why = why


class PrefetchMismatch(Exception):
    """Prefetched data is about another patient: HTTP 400."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(f"prefetch.{key}: {why}")
        self.key = key


def observation_codes() -> tuple[str, ...]:
    """``system|code`` tokens for every Observation code the FHIR reader maps."""
    from rccnav.knowledge.terminology import default_terminology

    terminology = default_terminology()
    value_set = terminology.value_set(OBSERVATION_VALUE_SET)
    tokens: list[str] = []
    for concept in value_set.concepts:
        if concept.code is None:
            continue
        url = terminology.data.code_systems[concept.system].url
        token = f"{url}|{concept.code}"
        if token not in tokens:
            tokens.append(token)
    return tuple(tokens)


def prefetch_templates(codes: Iterable[str]) -> dict[str, str]:
    patient = "{{context.patientId}}"
    return {
        PATIENT_KEY: f"Patient/{patient}",
        "conditions": f"Condition?patient={patient}",
        "observations": f"Observation?patient={patient}&code={','.join(codes)}",
        "medicationRequests": f"MedicationRequest?patient={patient}",
        "medicationAdministrations": f"MedicationAdministration?patient={patient}",
        "medicationStatements": f"MedicationStatement?patient={patient}",
        "procedures": f"Procedure?patient={patient}",
    }


def render(template: str, context: Mapping[str, Any]) -> str:
    """Fill the ``{{context.X}}`` tokens our own templates use (validated FHIR ids)."""
    out = template
    for name in ("patientId", "userId", "encounterId"):
        value = context.get(name)
        if isinstance(value, str):
            out = out.replace("{{context." + name + "}}", value)
    return out


def _is_outcome(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") == "OperationOutcome"


def _has_next(value: Any) -> bool:
    return isinstance(value, dict) and any(
        isinstance(link, dict) and link.get("relation") == "next"
        for link in value.get("link") or ()
    )


@dataclass(frozen=True)
class Gathered:
    values: dict[str, dict[str, Any] | None]
    fetched: tuple[str, ...]


async def _fetch_one(
    key: str,
    template: str,
    given: Any,
    *,
    context: Mapping[str, Any],
    server: str | None,
    token: str | None,
    fetcher: FhirFetcher,
) -> dict[str, Any] | None:
    if server is None:
        why = "not prefetched and no fhirServer to fetch it from"
        if given is not None:
            why = "prefetched search has more pages and no fhirServer to page from"
        raise PrefetchUnavailable(key, why)
    try:
        if given is not None:
            return await fetcher.complete_pages(server, given, token)
        return await fetcher.fetch(server, render(template, context), token)
    except FetchError as exc:
        raise PrefetchUnavailable(key, str(exc)) from exc


async def gather_prefetch(
    templates: Mapping[str, str],
    prefetch: Mapping[str, Any] | None,
    *,
    context: Mapping[str, Any],
    server: str | None,
    token: str | None,
    fetcher: FhirFetcher,
) -> Gathered:
    """Each template key's data: as prefetched, completed, or fetched."""
    given = prefetch or {}
    values: dict[str, dict[str, Any] | None] = {}
    jobs: dict[str, Any] = {}
    for key, template in templates.items():
        if key not in given or _is_outcome(given[key]):
            jobs[key] = _fetch_one(
                key, template, None, context=context, server=server, token=token, fetcher=fetcher
            )
        elif _has_next(given[key]):
            jobs[key] = _fetch_one(
                key,
                template,
                given[key],
                context=context,
                server=server,
                token=token,
                fetcher=fetcher,
            )
        else:
            values[key] = given[key]
    if jobs:
        results = await asyncio.gather(*jobs.values(), return_exceptions=True)
        for key, result in zip(jobs, results, strict=True):
            if isinstance(result, BaseException):
                raise result
            values[key] = result
    return Gathered(values, tuple(k for k in jobs if k not in given))


def _resources(value: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    if value is None:
        return
    if value.get("resourceType") != "Bundle":
        yield value
        return
    for entry in value.get("entry") or ():
        if not isinstance(entry, dict):
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            continue
        kind = resource.get("resourceType")
        if isinstance(kind, str) and kind != "OperationOutcome":
            yield resource


def check_patient(
    values: Mapping[str, dict[str, Any] | None], patient_id: str, *, base: str | None = None
) -> None:
    """The data is about the patient in context, and the Patient itself is there.

    Whose data each resource is follows the FHIR reader's one rule
    (:mod:`rccnav.adapters.fhir.subject`); data positively about another patient
    refuses the whole request. Data that names no patient is left to the reader,
    which sets it aside with a warning.
    """
    from rccnav.adapters.fhir.subject import SubjectRule, Whose

    patient = values.get(PATIENT_KEY)
    if patient is None:
        raise PrefetchUnavailable(PATIENT_KEY, f"Patient/{patient_id} is not available")
    if patient.get("resourceType") != "Patient" or patient.get("id") != patient_id:
        raise PrefetchMismatch(PATIENT_KEY, "is not the Patient named by context.patientId")
    prefix = (base or "").rstrip("/")
    rule = SubjectRule(patient, f"{prefix}/Patient/{patient_id}" if prefix else None)
    for key, value in values.items():
        if key == PATIENT_KEY:
            continue
        for resource in _resources(value):
            if resource.get("resourceType") == "Patient":
                if resource.get("id") != patient_id:
                    raise PrefetchMismatch(key, "holds a Patient other than context.patientId")
                continue
            verdict = rule.judge(resource)
            if verdict.whose is Whose.ANOTHER_PATIENT:
                what = resource.get("resourceType")
                rid = resource.get("id")
                name = f"{what}/{rid}" if isinstance(rid, str) else str(what)
                raise PrefetchMismatch(
                    key,
                    f"holds {name}, which is about a patient other than context.patientId "
                    f"({verdict.why})",
                )


def collection_bundle(
    values: Mapping[str, dict[str, Any] | None],
    extra: Iterable[dict[str, Any]] = (),
    *,
    base: str | None,
) -> dict[str, Any]:
    """One collection Bundle of every resource, each once (by type and id)."""
    seen: set[tuple[str, str]] = set()
    entries: list[dict[str, Any]] = []
    prefix = (base or "").rstrip("/")

    def add(resource: dict[str, Any]) -> None:
        kind, rid = resource["resourceType"], resource.get("id")
        if isinstance(rid, str):
            if (kind, rid) in seen:
                return
            seen.add((kind, rid))
        entry: dict[str, Any] = {"resource": resource}
        if isinstance(rid, str) and prefix:
            entry["fullUrl"] = f"{prefix}/{kind}/{rid}"
        entries.append(entry)

    # Draft orders first: they are what the clinician is signing now.
    for resource in extra:
        add(resource)
    for value in values.values():
        for resource in _resources(value):
            add(resource)
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}
