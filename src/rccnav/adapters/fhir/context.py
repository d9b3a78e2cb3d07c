"""State shared by the FHIR mapping steps: inputs, findings and bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from rccnav.adapters.fhir.bundle import Entry, ResourceIndex
from rccnav.adapters.fhir.values import FhirDate, codings, concept_texts, parse_date
from rccnav.core.assessment import Severity, Warning
from rccnav.core.case import Sex
from rccnav.knowledge.model import KnowledgeBase
from rccnav.knowledge.terminology import Terminology

if TYPE_CHECKING:
    from rccnav.adapters.fhir.conflicts import Conflict


@dataclass(slots=True)
class ReadContext:
    index: ResourceIndex
    term: Terminology
    kb: KnowledgeBase
    on: date
    lookback_days: int
    sex: Sex | None = None
    birth_date: date | None = None
    # Observation source -> (date, DiagnosticReport entry) for results a report lists.
    report_dates: dict[str, tuple[FhirDate, Entry]] = field(default_factory=dict)
    warnings: list[Warning] = field(default_factory=list)
    #: Same-day results that disagree, settled once the Case is built (``conflicts.py``).
    conflicts: list[Conflict] = field(default_factory=list)
    #: Resources removed as not this patient's data (see ``subject.py``).
    set_aside: int = 0
    ignored: list[str] = field(default_factory=list)

    def warn(self, message: str, source: str | None, severity: str = "warning") -> None:
        """A ``data-quality`` finding: the item is unknown, the rest is still assessed."""
        level: Severity = "info" if severity == "info" else "warning"
        self.warnings.append(Warning("data-quality", level, message, source=source))

    def warn_invalid_dates(self, entry: Entry, fields: tuple[str, ...]) -> None:
        """Warn about each date element present but not a date (never a silent fallback)."""
        for name in fields:
            value = entry.resource.get(name)
            if value is not None and parse_date(value) is None:
                shown = repr(value) if isinstance(value, str) and len(value) <= 40 else "its value"
                self.warn(f"{name} {shown} is not a valid date; not used", entry.source)

    def ignore(self, entry: Entry, why: str) -> None:
        self.ignored.append(f"{entry.source}: {why}")

    def after_on(self, when: FhirDate | None) -> bool:
        return when is not None and when.day > self.on

    def match(self, value_set: str, concept: object) -> str | None:
        """Target of the first coding of ``concept`` in ``value_set`` ('' when it has none)."""
        for system, code, _display in codings(concept):
            found = self.term.lookup(value_set, system, code)
            if found is not None:
                return found.target or ""
        return None

    def matches(self, concept: object) -> dict[str, str]:
        """:meth:`match` for every value set at once: value set -> target ('' when none).

        One look-up per coding in the terminology's index, for mapping steps that ask
        about many value sets (a Condition: diagnosis, metastasis, each comorbidity).
        """
        found: dict[str, str] = {}
        for system, code, _display in codings(concept):
            if code is not None:
                for value_set, hit in self.term.memberships(system, code).items():
                    if value_set not in found:
                        found[value_set] = hit.target or ""
        return found

    def matched(
        self, value_set: str, concept: object, hits: dict[str, str], texts: bool
    ) -> str | None:
        """The answer of :meth:`match` (``texts`` False) or :meth:`match_any` (True), from
        ``hits = self.matches(concept)`` computed once for the concept."""
        found = hits.get(value_set)
        if found is None and texts:
            for text in concept_texts(concept):
                rule = self.term.match_text(value_set, text)
                if rule is not None:
                    return rule.target or ""
        return found

    def match_any(self, value_set: str, concept: object) -> str | None:
        """Like :meth:`match`, then the value set's text rules on the text and displays."""
        coded = self.match(value_set, concept)
        if coded is not None:
            return coded
        for text in concept_texts(concept):
            found = self.term.match_text(value_set, text)
            if found is not None:
                return found.target or ""
        return None

    def has_known_system(self, concept: object) -> bool:
        return any(self.term.system_key(system) for system, _c, _d in codings(concept))
