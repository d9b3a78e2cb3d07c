"""Turn FHIR input bytes into a flat, indexed list of resources.

Accepts a Bundle of any type (collection, searchset, transaction, batch,
document, history, *-response; nested Bundles are flattened), NDJSON (one
resource per line, as a bulk ``$export`` writes it), a JSON array of resources
or a single resource. References resolve by ``fullUrl`` (``urn:uuid:``,
absolute URL), relative ``Type/id``, absolute URLs ending in ``Type/id`` and
contained ``#id``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from rccnav.adapters.errors import InputError
from rccnav.adapters.fhir.values import JSON, as_dict, as_list, as_str, dicts

NO_RESOURCE = "Bundle.entry without resource"
_MAX_NESTING = 4


@dataclass(slots=True)
class Entry:
    """One top-level resource of the input and whether the mapping used it."""

    resource: JSON
    rtype: str
    source: str
    position: str
    full_url: str | None
    used: bool = False


@dataclass(slots=True)
class ResourceIndex:
    kind: str
    entries: list[Entry] = field(default_factory=list)
    by_key: dict[str, Entry] = field(default_factory=dict)
    uncounted: dict[str, int] = field(default_factory=dict)
    duplicates: list[str] = field(default_factory=list)
    #: (first copy, position of a later copy that differs from it)
    conflicting: list[tuple[Entry, str]] = field(default_factory=list)

    def resolve(self, reference: str | None, container: Entry | None = None) -> JSON | None:
        """The resource a reference points to, or None when it is not in the input."""
        entry_or_contained = self._resolve(reference, container)
        return entry_or_contained

    def resolve_entry(self, reference: str | None) -> Entry | None:
        if reference is None:
            return None
        return self.by_key.get(_strip_version(reference)) or self.by_key.get(
            _type_id_tail(_strip_version(reference)) or ""
        )

    def _resolve(self, reference: str | None, container: Entry | None) -> JSON | None:
        if reference is None:
            return None
        if reference.startswith("#"):
            if container is None:
                return None
            wanted = reference[1:]
            for contained in dicts(container.resource.get("contained")):
                if contained.get("id") == wanted:
                    return contained
            return None
        entry = self.resolve_entry(reference)
        return entry.resource if entry else None

    def add(self, resource: JSON, position: str, full_url: str | None) -> None:
        rtype = resource["resourceType"]
        rid = as_str(resource.get("id"))
        if full_url is None and rid is not None:
            # NDJSON and arrays: one key, Type/id. A new one is indexed at once; a repeat
            # takes the general path below (same keys, same outcome).
            source = f"{rtype}/{rid}"
            if source not in self.by_key:
                entry = Entry(resource, rtype, source, position, None)
                self.entries.append(entry)
                self.by_key[source] = entry
                return
        keys: list[str] = []
        if full_url:
            keys.append(full_url)
            if "://" in full_url and (tail := _type_id_tail(full_url)):
                keys.append(tail)
        source = f"{rtype}/{rid}" if rid else (full_url or f"{rtype} ({position})")
        if rid:
            keys.append(source)
        by_key = self.by_key
        first = next((by_key[key] for key in keys if key in by_key), None)
        if first is not None:
            # Searchset includes and history Bundles repeat a resource: an identical
            # copy is read once; a copy that differs makes the resource ambiguous.
            if first.resource == resource:
                self.duplicates.append(f"{source}: repeated at {position}; read once")
            else:
                self.conflicting.append((first, position))
            self.uncounted[rtype] = self.uncounted.get(rtype, 0) + 1
            return
        entry = Entry(resource, rtype, source, position, full_url)
        self.entries.append(entry)
        for key in keys:
            self.by_key.setdefault(key, entry)


def remove_entries(index: ResourceIndex, entries: list[Entry]) -> None:
    """Take entries out of the index: no mapping step can read or reach them afterwards."""
    gone = {id(entry) for entry in entries}
    if not gone:
        return
    index.entries = [entry for entry in index.entries if id(entry) not in gone]
    index.by_key = {k: e for k, e in index.by_key.items() if id(e) not in gone}
    for entry in entries:
        index.uncounted[entry.rtype] = index.uncounted.get(entry.rtype, 0) + 1


def _strip_version(reference: str) -> str:
    cut = reference.find("/_history/")
    return reference[:cut] if cut >= 0 else reference


def _type_id_tail(reference: str) -> str | None:
    """``Type/id`` from an absolute URL such as ``https://host/fhir/Patient/123``."""
    if "://" not in reference:
        return None
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2][:1].isupper():
        return f"{parts[-2]}/{parts[-1]}"
    return None


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic GC while decoding a large document.

    Decoding allocates one object per JSON value and would trigger repeated full
    collections (a third of the time for a 3 MB Bundle); the decoded tree holds no
    reference cycles, so nothing is left for the collector to find.
    """
    if size < _GC_PAUSE_BYTES or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_GC_PAUSE_BYTES = 64 * 1024


def _loads(data: bytes, name: str) -> tuple[Any, str]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise InputError("the input is empty", where=name)
    try:
        with gc_paused(len(data)):
            return orjson.loads(data), "json"
    except orjson.JSONDecodeError as whole_error:
        lines = [line for line in data.splitlines() if line.strip()]
        items: list[Any] = []
        for number, line in enumerate(lines, start=1):
            try:
                items.append(orjson.loads(line))
            except orjson.JSONDecodeError:
                if number == 1:
                    raise InputError(f"not JSON or NDJSON: {whole_error}", where=name) from None
                raise InputError(f"NDJSON line {number} is not JSON", where=name) from None
        return items, "ndjson"


def _is_resource(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("resourceType"), str)


def _not_fhir_message(document: Any) -> str:
    if isinstance(document, dict) and ("prefetch" in document or "context" in document):
        return (
            "this looks like a CDS Hooks request, not a FHIR Bundle or resource "
            "(no resourceType); send it to the CDS Hooks service instead"
        )
    return "not a FHIR Bundle or resource: the top-level object has no resourceType"


def _add_bundle(index: ResourceIndex, bundle: JSON, where: str, depth: int) -> None:
    if depth > _MAX_NESTING:
        raise InputError(f"Bundles nested more than {_MAX_NESTING} deep", where=where)
    for number, raw_entry in enumerate(as_list(bundle.get("entry")), start=1):
        position = f"{where}entry {number}"
        entry = as_dict(raw_entry)
        resource = entry.get("resource") if entry else None
        if not _is_resource(resource):
            index.uncounted[NO_RESOURCE] = index.uncounted.get(NO_RESOURCE, 0) + 1
            continue
        assert isinstance(resource, dict)
        full_url = as_str(entry.get("fullUrl")) if entry else None
        if resource["resourceType"] == "Bundle":
            _add_bundle(index, resource, f"{position} > ", depth + 1)
            continue
        index.add(resource, position, full_url)


def read_resources(data: bytes, name: str) -> ResourceIndex:
    """Decode ``data`` and index every resource; raise InputError if it is not FHIR."""
    document, syntax = _loads(data, name)
    return index_document(document, syntax, name)


def index_document(document: Any, syntax: str, name: str) -> ResourceIndex:
    """Index an already-decoded JSON document (``syntax`` "json") or NDJSON lines."""
    if syntax == "ndjson":
        return index_resources(document, "fhir-ndjson", name, label="line")
    if isinstance(document, list):
        return index_resources(document, "fhir-array", name)
    if not _is_resource(document):
        raise InputError(_not_fhir_message(document), where=name)
    assert isinstance(document, dict)
    if document["resourceType"] == "Bundle":
        bundle_type = as_str(document.get("type")) or "unknown"
        index = ResourceIndex(kind=f"fhir-bundle ({bundle_type})")
        _add_bundle(index, document, "", 1)
        return index
    index = ResourceIndex(kind="fhir-resource")
    index.add(document, "the document", None)
    return index


def index_resources(
    resources: list[Any], kind: str, name: str = "<resources>", label: str = "item"
) -> ResourceIndex:
    """Index already-decoded resources or Bundles (NDJSON lines, a CDS Hooks prefetch)."""
    index = ResourceIndex(kind=kind)
    for number, item in enumerate(resources, start=1):
        where = f"{label} {number}"
        if not _is_resource(item):
            raise InputError(f"{where} is not a FHIR resource (no resourceType)", where=name)
        if item["resourceType"] == "Bundle":
            _add_bundle(index, item, f"{where} > ", 1)
        else:
            index.add(item, where, None)
    return index
