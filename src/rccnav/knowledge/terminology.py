"""Terminology for the FHIR adapter: code systems, value sets, unit synonyms.

The codes live in ``knowledge/data/terminology.yaml`` so a clinician or
terminologist reviews data, not Python. This module validates that file on load
and compiles it into look-up tables: a coding is matched by (code system, code)
in a dict, ICD-style prefixes by trying each prefix length of the code, and
free-text patterns as pre-compiled regular expressions.

It is separate from the guideline knowledge base (``loader.py``) because it
changes with coding practice, not with clinical evidence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rccnav.knowledge.compiled_cache import cached
from rccnav.knowledge.loader import FAST_SAFE_LOADER
from rccnav.knowledge.model import ReviewStatus


class TerminologyError(ValueError):
    """terminology.yaml is malformed or refers to an unknown code system."""


class _Term(BaseModel):
    # Validators are built when the YAML is first validated, not at import: a run that
    # loads the compiled cache only unpickles these models and never validates them.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class CodeSystem(_Term):
    url: str
    aliases: tuple[str, ...] = ()
    normalise: Literal["none", "icd"] = "none"


class Concept(_Term):
    system: str = Field(description="Key of a code system in `code_systems`")
    code: str | None = None
    prefix: str | None = None
    display: str
    target: str | None = None
    sarcomatoid: bool | None = None
    status: ReviewStatus | None = Field(None, description="Overrides the value set's status")

    @model_validator(mode="after")
    def _code_or_prefix(self) -> Concept:
        if (self.code is None) == (self.prefix is None):
            raise ValueError(f"concept {self.display!r} needs exactly one of code or prefix")
        return self


class TextRule(_Term):
    pattern: str
    target: str | None = None


class ValueSet(_Term):
    id: str
    title: str
    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus
    concepts: tuple[Concept, ...] = ()
    text: tuple[TextRule, ...] = ()


class Match:
    """A concept a coding or text matched, with its review status."""

    __slots__ = ("concept", "status", "value_set")

    def __init__(self, value_set: ValueSet, concept: Concept) -> None:
        self.value_set = value_set
        self.concept = concept
        self.status = concept.status or value_set.status

    @property
    def target(self) -> str | None:
        return self.concept.target


class TextMatch:
    __slots__ = ("rule", "value_set")

    def __init__(self, value_set: ValueSet, rule: TextRule) -> None:
        self.value_set = value_set
        self.rule = rule

    @property
    def target(self) -> str | None:
        return self.rule.target


class _CompiledSet:
    """One value set's look-ups. Its text patterns are compiled on first use: a pickled
    ``re.Pattern`` is compiled again when unpickled, and compiling every pattern of every
    value set was most of the cost of loading the cached terminology, while a record
    needs the free-text rules of only a few value sets, if any."""

    __slots__ = ("_patterns", "exact", "max_prefix", "prefixes", "rules")

    def __init__(self) -> None:
        self.exact: dict[tuple[str, str], Match] = {}
        self.prefixes: dict[tuple[str, str], Match] = {}
        self.max_prefix = 0
        self.rules: list[TextMatch] = []
        self._patterns: list[tuple[re.Pattern[str], TextMatch]] | None = None

    def patterns(self) -> list[tuple[re.Pattern[str], TextMatch]]:
        if self._patterns is None:
            self._patterns = [(_text_pattern(found.rule), found) for found in self.rules]
        return self._patterns

    def __getstate__(self) -> tuple[None, dict[str, object]]:
        # The pattern texts are kept; their compiled form is not (see the class doc).
        return None, {
            "exact": self.exact,
            "prefixes": self.prefixes,
            "max_prefix": self.max_prefix,
            "rules": self.rules,
            "_patterns": None,
        }


def _text_pattern(rule: TextRule) -> re.Pattern[str]:
    return re.compile(rule.pattern, re.IGNORECASE)


#: How many distinct (system, code) pairs :meth:`Terminology.memberships` remembers.
_MEMBERSHIP_MEMORY = 65_536
_UNMATCHED = object()
_NO_MEMBERSHIP: dict[str, Match] = {}


class SteroidEquivalence(_Term):
    """Prednisone-equivalent potency of systemic corticosteroids (mg prednisone per mg)."""

    sources: tuple[str, ...] = Field(min_length=1)
    status: ReviewStatus
    prednisone_mg_per_mg: dict[str, float]

    @model_validator(mode="after")
    def _positive(self) -> SteroidEquivalence:
        for name, factor in self.prednisone_mg_per_mg.items():
            if not factor > 0:
                raise ValueError(f"corticosteroid {name!r}: factor must be positive")
        return self


class TerminologyData(_Term):
    """terminology.yaml as validated data (the schema a reviewer edits)."""

    version: str
    code_systems: dict[str, CodeSystem]
    profiles: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    value_sets: tuple[ValueSet, ...]
    adjuvant_regimens: tuple[str, ...] = ()
    units: dict[str, str] = Field(default_factory=dict)
    parameters: dict[str, int] = Field(default_factory=dict)
    corticosteroid_equivalence: SteroidEquivalence | None = None


class Terminology:
    """The compiled look-up tables: plain dicts, so a look-up costs a few dict probes.

    (Kept out of pydantic on purpose: private-attribute access on a model goes
    through ``__getattr__`` and made each look-up about ten times slower.)
    """

    __slots__ = (
        "_compiled",
        "_exact",
        "_max_prefix",
        "_memberships",
        "_normalise_icd",
        "_prefixes",
        "_sets",
        "_system_by_url",
        "_texts",
        "adjuvant_regimens",
        "data",
        "parameters",
        "prednisone_mg_per_mg",
        "profiles",
        "units",
        "version",
    )

    def __init__(self, data: TerminologyData) -> None:
        self.data = data
        self.version = data.version
        self.profiles = {kind: frozenset(names) for kind, names in data.profiles.items()}
        self.adjuvant_regimens = data.adjuvant_regimens
        self.units = dict(data.units)
        self.parameters = dict(data.parameters)
        steroids = data.corticosteroid_equivalence
        self.prednisone_mg_per_mg = dict(steroids.prednisone_mg_per_mg) if steroids else {}
        self._normalise_icd = {k for k, s in data.code_systems.items() if s.normalise == "icd"}
        self._system_by_url: dict[str, str] = {}
        for key, system in data.code_systems.items():
            for url in (system.url, *system.aliases):
                if url in self._system_by_url:
                    raise ValueError(f"code system URL {url!r} is listed twice")
                self._system_by_url[url] = key
        self._sets: dict[str, ValueSet] = {}
        self._compiled: dict[str, _CompiledSet] = {}
        for value_set in data.value_sets:
            if value_set.id in self._sets:
                raise ValueError(f"value set {value_set.id!r} is defined twice")
            self._sets[value_set.id] = value_set
            self._compiled[value_set.id] = self._compile(value_set, data)
        # One index across every value set: (system, code) -> the value sets it is in.
        # A coding is then looked up once, not once per value set a mapping step asks
        # about (a Condition is checked against about twenty).
        self._exact: dict[tuple[str, str], list[tuple[str, Match]]] = {}
        self._prefixes: dict[tuple[str, str], list[tuple[str, Match]]] = {}
        self._max_prefix = 0
        for set_id, compiled in self._compiled.items():
            for coding, match in compiled.exact.items():
                self._exact.setdefault(coding, []).append((set_id, match))
            for coding, match in compiled.prefixes.items():
                self._prefixes.setdefault(coding, []).append((set_id, match))
                self._max_prefix = max(self._max_prefix, len(coding[1]))
        self._memberships: dict[tuple[str | None, str], dict[str, Match]] = {}
        self._texts: dict[tuple[str, str], TextMatch | None] = {}

    def _compile(self, value_set: ValueSet, data: TerminologyData) -> _CompiledSet:
        compiled = _CompiledSet()
        for concept in value_set.concepts:
            if concept.system not in data.code_systems:
                raise ValueError(
                    f"value set {value_set.id}: concept {concept.display!r} uses unknown "
                    f"code system {concept.system!r}"
                )
            if concept.code is not None:
                key = (concept.system, self._normalise(concept.system, concept.code))
                compiled.exact[key] = Match(value_set, concept)
            else:
                assert concept.prefix is not None
                prefix = self._normalise(concept.system, concept.prefix)
                compiled.prefixes[(concept.system, prefix)] = Match(value_set, concept)
                compiled.max_prefix = max(compiled.max_prefix, len(prefix))
        for rule in value_set.text:
            try:
                _text_pattern(rule)  # a bad pattern is refused when the file is loaded
            except re.error as exc:
                raise ValueError(
                    f"value set {value_set.id}: bad pattern {rule.pattern!r}: {exc}"
                ) from exc
            compiled.rules.append(TextMatch(value_set, rule))
        return compiled

    def _normalise(self, system_key: str, code: str) -> str:
        code = code.strip()
        if system_key in self._normalise_icd:
            return code.replace(".", "").upper()
        return code

    # ---------------------------------------------------------------- look-ups

    def system_key(self, url: str | None) -> str | None:
        """The code-system key for a FHIR ``system`` URL or alias, or None if unknown."""
        if url is None:
            return None
        found = self._system_by_url.get(url)
        if found is None:
            found = self._system_by_url.get(url.strip().rstrip("/"))
        return found

    def value_set(self, value_set_id: str) -> ValueSet:
        return self._sets[value_set_id]

    @property
    def value_sets(self) -> tuple[ValueSet, ...]:
        return self.data.value_sets

    def lookup(self, value_set_id: str, system_url: str | None, code: str | None) -> Match | None:
        """Match one coding against a value set (exact code, then longest prefix)."""
        if code is None:
            return None
        found = self.memberships(system_url, code).get(value_set_id)
        if found is None and value_set_id not in self._sets:
            raise KeyError(value_set_id)
        return found

    def memberships(self, system_url: str | None, code: str) -> Mapping[str, Match]:
        """Every value set one coding belongs to, with the concept it matched there.

        In each value set an exact code wins, else the longest prefix (ICD-style codes).
        Answers are remembered per (system, code): a record repeats a few codes many
        times. The memory is bounded (cleared when full) so odd input cannot grow it.
        """
        key = (system_url, code)
        found = self._memberships.get(key)
        if found is None:
            found = self._find_memberships(system_url, code)
            if len(self._memberships) >= _MEMBERSHIP_MEMORY:
                self._memberships.clear()
            self._memberships[key] = found
        return found

    def _find_memberships(self, system_url: str | None, code: str) -> dict[str, Match]:
        system_key = self.system_key(system_url)
        if system_key is None:
            return _NO_MEMBERSHIP
        normalised = self._normalise(system_key, code)
        found: dict[str, Match] = {}
        for set_id, match in self._exact.get((system_key, normalised), ()):
            found[set_id] = match
        for length in range(min(len(normalised), self._max_prefix), 0, -1):
            for set_id, match in self._prefixes.get((system_key, normalised[:length]), ()):
                found.setdefault(set_id, match)  # the longest prefix came first
        return found or _NO_MEMBERSHIP

    def match_text(self, value_set_id: str, text: str | None) -> TextMatch | None:
        """The first text rule of the value set that matches ``text``."""
        if not text:
            return None
        # Remembered per (value set, text): a record repeats the same displays (a lab's
        # LOINC display on every result), and each miss tries every pattern. Bounded.
        key = (value_set_id, text)
        found = self._texts.get(key, _UNMATCHED)
        if found is _UNMATCHED:
            found = self._match_text(value_set_id, text)
            if len(self._texts) >= _MEMBERSHIP_MEMORY:
                self._texts.clear()
            self._texts[key] = found
        return found  # type: ignore[return-value]

    def _match_text(self, value_set_id: str, text: str) -> TextMatch | None:
        for pattern, found in self._compiled[value_set_id].patterns():
            if pattern.search(text):
                return found
        return None

    def has_profile(self, kind: str, profiles: Iterable[str]) -> bool:
        """Whether any declared profile/extension URL is one of ``kind`` (by its last path part)."""
        names = self.profiles.get(kind)
        if not names:
            return False
        for url in profiles:
            tail = url.split("|", 1)[0].rstrip("/").rsplit("/", 1)[-1]
            if tail in names:
                return True
        return False

    def ucum_unit(self, unit: str) -> str:
        """The UCUM spelling of a printable unit string (unchanged when not listed)."""
        stripped = unit.strip()
        return self.units.get(stripped, stripped)

    def param(self, name: str) -> int:
        try:
            return self.parameters[name]
        except KeyError:
            raise TerminologyError(f"terminology parameter {name!r} is not defined") from None


def default_terminology_path() -> Path:
    return Path(str(resources.files("rccnav.knowledge") / "data" / "terminology.yaml"))


def parse_terminology(content: Mapping[str, Any]) -> Terminology:
    try:
        data = TerminologyData.model_validate(content)
    except ValidationError as exc:
        raise TerminologyError(f"terminology.yaml does not match its schema:\n{exc}") from exc
    try:
        return Terminology(data)
    except ValueError as exc:
        raise TerminologyError(f"terminology.yaml: {exc}") from exc


def load_terminology(path: Path | None = None) -> Terminology:
    """Read and compile the terminology (or reuse the compiled copy of the same bytes)."""
    source = path or default_terminology_path()
    try:
        raw = source.read_bytes()
    except FileNotFoundError as exc:
        raise TerminologyError(f"terminology file missing: {source}") from exc
    checksum = hashlib.sha256(raw).hexdigest()
    return cached("terminology", checksum, lambda: _compile(raw, source), Terminology)


def _compile(raw: bytes, source: Path) -> Terminology:
    try:
        content = yaml.load(raw, Loader=FAST_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise TerminologyError(f"{source.name}: not valid YAML: {exc}") from exc
    if not isinstance(content, dict):
        raise TerminologyError(f"{source.name}: top level must be a mapping")
    return parse_terminology(content)


@lru_cache(maxsize=1)
def default_terminology() -> Terminology:
    """The bundled terminology, loaded and compiled once per process."""
    return load_terminology()
