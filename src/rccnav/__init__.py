"""rccnav: guideline-based decision support for metastatic renal cell carcinoma.

The public surface is small: build a :class:`Case`, load the knowledge base,
call :func:`assess`. Adapters (CLI, FHIR, CDS Hooks) live in
``rccnav.adapters`` and are thin layers over the same call.
"""

from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment
from rccnav.core.case import Case
from rccnav.knowledge.loader import default_knowledge_base, load_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

__version__ = "0.1.0"

__all__ = [
    "Assessment",
    "Case",
    "KnowledgeBase",
    "__version__",
    "assess",
    "default_knowledge_base",
    "load_knowledge_base",
]
