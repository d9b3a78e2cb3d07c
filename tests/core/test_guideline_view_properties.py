"""Properties of the guideline views on generated Cases (hypothesis).

- whatever the view, every option any guideline (NCCN, EAU, ESMO) lists for the patient's
  setting is either shown or set aside in ``excluded`` with a reason: never dropped silently;
- where the recorded positions differ, the option (shown or set aside) states it;
- a single guideline's view never shows an option that guideline does not list there
  (unknown positions excepted: those are shown as the merged table shows them).
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rccnav.core.assess import assess
from rccnav.core.assessment import GuidelinePosition, GuidelineViewName, SystemicTherapy
from rccnav.core.case import Case
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import LISTING_CATEGORY, KnowledgeBase, ResolvedPosition

from .conftest import ON
from .test_properties import any_case

KB: KnowledgeBase = default_knowledge_base()
SOME = settings(max_examples=150, deadline=None)
VIEWS = st.sampled_from(["all", "nccn", "eau", "esmo"])


def _in_play(therapy: SystemicTherapy, possible: tuple[str, ...]) -> list[str]:
    rows = [t for t in KB.therapy_tables if t.id in therapy.tables]
    return [t.id for t in rows if not possible or set(t.risk_groups) & set(possible)]


def _listed_by_someone(positions: tuple[ResolvedPosition, ...]) -> bool:
    return any(LISTING_CATEGORY[p.listing] is not None for p in positions)


@SOME
@given(any_case(), VIEWS)
def test_no_option_a_guideline_lists_is_dropped_silently(
    case: Case, view: GuidelineViewName
) -> None:
    assessment = assess(case, KB, ON, guideline=view)
    therapy = assessment.systemic_therapy
    assert therapy.guideline_view == view
    shown = {o.regimen for o in therapy.options}
    set_aside = {e.regimen: e for e in therapy.excluded}
    for table_id in _in_play(therapy, assessment.imdc.possible_groups):
        table = next(t for t in KB.therapy_tables if t.id == table_id)
        in_table = {*table.preferred, *table.other, *table.certain_circumstances}
        for option, positions in KB.position_index.get(table_id, {}).items():
            if option not in in_table and not _listed_by_someone(positions):
                continue
            assert option in shown or option in set_aside, (
                f"{option} ({table_id}, view {view}) is neither shown nor set aside"
            )
            if option not in shown:
                assert set_aside[option].reason.text


@SOME
@given(any_case(), VIEWS)
def test_a_disagreement_is_always_stated(case: Case, view: GuidelineViewName) -> None:
    therapy = assess(case, KB, ON, guideline=view).systemic_therapy
    for item in (*therapy.options, *therapy.excluded):
        by_group: dict[tuple[str, ...], set[str | None]] = {}
        for p in item.guideline_positions:
            if p.listing != "not-recorded":
                by_group.setdefault(p.risk_groups, set()).add(_category(p))
        if any(len(categories) > 1 for categories in by_group.values()):
            assert item.guideline_disagreement, f"{item.regimen}: positions differ, not stated"


def _category(position: GuidelinePosition) -> str | None:
    listed = LISTING_CATEGORY[position.listing]
    return "certain-circumstances" if listed and position.condition else listed


@SOME
@given(any_case(), st.sampled_from(["nccn", "eau", "esmo"]))
def test_a_single_view_shows_only_what_its_guideline_lists(
    case: Case, view: GuidelineViewName
) -> None:
    therapy = assess(case, KB, ON, guideline=view).systemic_therapy
    for option in therapy.options:
        own = [p for p in option.guideline_positions if p.guideline == view]
        if not own:
            continue  # best supportive care and other options outside the table
        assert any(
            p.listing == "not-recorded" or LISTING_CATEGORY[p.listing] is not None for p in own
        ), f"{option.regimen} is shown in the {view} view although it does not list it"
