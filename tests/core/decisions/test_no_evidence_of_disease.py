"""M1 NED branch: adjuvant or surveillance; an out-of-date NED record read as recurrence."""

from __future__ import annotations

from typing import Any

import pytest

import rccnav
from rccnav.knowledge.model import KnowledgeBase

from ..conftest import ON, make_case

NED: dict[str, Any] = {
    "metastases_recorded": True,
    "no_evidence_of_disease": True,
    "complete_resection_date": "2026-09-15",
}


@pytest.mark.parametrize(
    ("later", "recurred"),
    [
        ({"site": "liver", "lesions": 1, "date": "2026-10-20"}, True),
        # Resected or ablated after the recorded resection: still NED.
        ({"site": "liver", "lesions": 1, "date": "2026-10-20", "treated": True}, False),
        # Found before the complete resection: part of what was resected.
        ({"site": "lung", "lesions": 1, "date": "2026-08-01"}, False),
        # Undated: no evidence it came later; the NED record stands.
        ({"site": "liver", "lesions": 1}, False),
    ],
)
def test_a_later_untreated_metastasis_means_recurrence(
    kb: KnowledgeBase, later: dict[str, Any], recurred: bool
) -> None:
    resected = {"site": "lung", "lesions": 1, "date": "2026-01-20", "treated": True}
    case = make_case(disease={**NED, "metastases": [resected, later]})
    result = rccnav.assess(case, kb, ON)
    ned_branch = result.systemic_therapy.setting.startswith("no evidence of disease")
    assert ned_branch is not recurred
    warned = any(
        w.code == "data-quality" and "taken as recurrence" in w.message for w in result.warnings
    )
    assert warned is recurred
