"""Properties of the treatment decision on generated Cases (hypothesis).

- ``preferred`` is never empty without an explicit reason and a named next step;
- an option moved up always says from where and why.
"""

from __future__ import annotations

from hypothesis import given, settings

from rccnav.core.assess import assess
from rccnav.core.case import Case
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

from .conftest import ON
from .test_properties import any_case

KB: KnowledgeBase = default_knowledge_base()
SOME = settings(max_examples=150, deadline=None)


@SOME
@given(any_case())
def test_preferred_is_never_empty_without_reason_and_next_step(case: Case) -> None:
    therapy = assess(case, KB, ON).systemic_therapy
    if therapy.preferred:
        assert therapy.no_preferred is None
        return
    explained = therapy.no_preferred
    assert explained is not None, "preferred is empty with no reason"
    assert explained.reason.text and explained.reason.rule
    assert explained.next_steps
    assert set(explained.next_steps) <= set(KB.non_drug_options)


@SOME
@given(any_case())
def test_a_moved_option_says_why_and_is_not_contraindicated(case: Case) -> None:
    therapy = assess(case, KB, ON).systemic_therapy
    for option in therapy.options:
        if option.moved_from is None:
            continue
        assert option.category == "preferred"
        assert not option.contraindicated
        assert any(r.rule == "therapy.fallback" for r in option.reasons)
