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

import gc
import os
from datetime import date

# The cyclic GC is paused while the package imports: importing creates some hundred
# thousand long-lived objects (classes, validators, functions) and no garbage, so its
# passes over them found nothing to free and were about 5% of a whole `rccnav assess`.
_collecting = gc.isenabled()
gc.disable()
try:
    # After __version__: adapter modules read it from this package.
    from rccnav.adapters.errors import InputError
    from rccnav.adapters.intake import Intake
    from rccnav.core.assess import assess
    from rccnav.core.assessment import Assessment, GuidelineViewName
    from rccnav.core.case import Case
    from rccnav.knowledge.loader import default_knowledge_base, load_knowledge_base
    from rccnav.knowledge.model import KnowledgeBase
finally:
    if _collecting:
        gc.enable()


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
