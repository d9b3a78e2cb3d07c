"""rccnav: guideline-based decision support for metastatic renal cell carcinoma.

The public surface is small:

- :func:`read_input` reads any file ``rccnav assess`` reads (case file, FHIR R4 Bundle or
  resource, NDJSON) into an :class:`Intake`; :func:`assess_input` assesses it as of the
  file's ``assessment_date`` (else today), as the CLI does. For batch use, load the
  knowledge base once (:func:`default_knowledge_base`) and pass it to both.
- Or build a :class:`Case` in code and call :func:`assess`.

Bad input raises :class:`InputError`, naming the field or resource and what is wrong.
Adapters (CLI, FHIR, CDS Hooks) live in ``rccnav.adapters`` and are thin layers over the
same call.
"""

from __future__ import annotations

__version__ = "0.1.0"

import os
from datetime import date
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rccnav.adapters.errors import InputError
    from rccnav.adapters.intake import Intake
    from rccnav.core.assess import assess
    from rccnav.core.assessment import Assessment, GuidelineViewName
    from rccnav.core.case import Case
    from rccnav.knowledge.loader import default_knowledge_base, load_knowledge_base
    from rccnav.knowledge.model import KnowledgeBase

# Imported on first use (PEP 562): `import rccnav` stays cheap, so the `rccnav` program
# can set up its process (rccnav.adapters.program) before the models load, and a
# process that needs one part does not load the rest.
_HOME = {
    "InputError": "rccnav.adapters.errors",
    "Intake": "rccnav.adapters.intake",
    "assess": "rccnav.core.assess",
    "Assessment": "rccnav.core.assessment",
    "GuidelineViewName": "rccnav.core.assessment",
    "Case": "rccnav.core.case",
    "default_knowledge_base": "rccnav.knowledge.loader",
    "load_knowledge_base": "rccnav.knowledge.loader",
    "KnowledgeBase": "rccnav.knowledge.model",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


def read_input(
    source: str | os.PathLike[str] | bytes,
    *,
    on: date | None = None,
    lookback_days: int | None = None,
    kb: KnowledgeBase | None = None,
) -> Intake:
    """Read a case file or FHIR input: a path, or the file's bytes.

    ``on`` is the date FHIR data is read as of (default today); a case file's own
    ``assessment_date`` is kept on ``intake.case``. Raises :class:`InputError`.
    """
    from rccnav.adapters.intake import read_input as _read
    from rccnav.adapters.limits import read_path

    if isinstance(source, bytes):
        raw, name = source, "<input>"
    else:
        name = os.fspath(source)
        raw = read_path(name)
    return _read(raw, name=name, on=on, lookback_days=lookback_days, kb=kb)


def assess_input(
    intake: Intake,
    *,
    on: date | None = None,
    kb: KnowledgeBase | None = None,
    lookback_days: int | None = None,
    guideline: GuidelineViewName = "all",
) -> Assessment:
    """Assess what :func:`read_input` read, with the reader's warnings carried along.

    ``on`` defaults to the case file's ``assessment_date``, else today (as
    ``rccnav assess``); ``kb`` to the bundled knowledge base. ``guideline`` is
    ``"all"`` (NCCN, EAU and ESMO merged) or ``"nccn"``, ``"eau"``, ``"esmo"``.
    """
    from rccnav.adapters.intake import assess_input as _assess
    from rccnav.knowledge.loader import default_knowledge_base

    when = on or intake.case.assessment_date or date.today()
    return _assess(
        intake,
        kb or default_knowledge_base(),
        when,
        lookback_days=lookback_days,
        guideline=guideline,
    )


__all__ = [
    "Assessment",
    "Case",
    "InputError",
    "Intake",
    "KnowledgeBase",
    "__version__",
    "assess",
    "assess_input",
    "default_knowledge_base",
    "load_knowledge_base",
    "read_input",
]
