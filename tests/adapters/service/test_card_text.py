"""Cards a clinician reads, on every shared vignette: short summaries, bounded detail with a
link to the full report, no card for every patient regardless of data, coded suggestions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from tests.adapters.service.conftest import VIGNETTES, expected, vignette, vignette_names

from rccnav.adapters.fhir.reader import read_fhir
from rccnav.adapters.intake import assess_input
from rccnav.adapters.service.cards import (
    DETAIL_MAX,
    RXNORM,
    DraftOrder,
    IssuedCard,
    order_cards,
    patient_view_cards,
)
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

REPORT = "https://rccnav.example.org/report"
# Drafts that draw a card with alternatives (each is a real order a clinician could place).
DRAFTS = (("gemcitabine",), ("sunitinib", "nivolumab"), ("medroxyprogesterone",))

pytestmark = pytest.mark.skipif(not VIGNETTES.is_dir(), reason="shared vignettes absent")


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return default_knowledge_base()


def _on(name: str) -> date:
    return date.fromisoformat(expected(name)["on"])


def _cards(kb: KnowledgeBase, name: str) -> list[IssuedCard]:
    on = _on(name)
    intake = read_fhir(vignette(name), name=name, on=on, lookback_days=None, kb=kb)
    return patient_view_cards(kb, assess_input(intake, kb, on), report_url=REPORT)


def _order(kb: KnowledgeBase, name: str, draft: tuple[str, ...]) -> list[IssuedCard]:
    on = _on(name)
    intake = read_fhir(vignette(name), name=name, on=on, lookback_days=None, kb=kb)
    return order_cards(
        kb,
        assess_input(intake, kb, on),
        proposed=draft,
        drafts=[DraftOrder("MedicationRequest/draft-1")],
        patient_id="p1",
        report_url=REPORT,
    )


def _all_cards(kb: KnowledgeBase) -> Iterator[tuple[str, IssuedCard]]:
    for name in vignette_names():
        for card in _cards(kb, name):
            yield name, card


def test_every_card_is_short_and_links_the_full_report(kb: KnowledgeBase) -> None:
    seen = 0
    for name, issued in _all_cards(kb):
        card = issued.card
        assert len(card.summary) <= 140, (name, card.summary)
        assert card.detail is not None and len(card.detail) <= DETAIL_MAX, (name, issued.card_type)
        assert card.links and card.links[0].url == REPORT and card.links[0].type == "absolute"
        seen += 1
    assert seen >= len(vignette_names())


def test_long_detail_is_cut_at_a_line_and_says_so(kb: KnowledgeBase) -> None:
    note = "more line(s) and the source list are in the full report"
    shortened = [c.card.detail for _, c in _all_cards(kb) if note in (c.card.detail or "")]
    # Without the limit the longest detail was over 15,000 characters, so some are cut.
    assert shortened
    for detail in shortened:
        assert len(detail) <= DETAIL_MAX
        assert detail.rstrip().endswith("._")  # the footer (knowledge base, date) survives


def test_brain_imaging_fires_only_when_the_data_call_for_it(kb: KnowledgeBase) -> None:
    with_brain: dict[str, bool] = {}
    for name in vignette_names():
        cards = _cards(kb, name)
        with_brain[name] = any("Brain imaging" in (c.card.detail or "") for c in cards)
    assert not all(with_brain.values()), "a brain-imaging card fires for every vignette"
    # Still asked for a patient about to start first-line therapy with brain status unknown.
    assert any(with_brain.values())


def test_no_card_type_fires_for_every_vignette_unless_it_is_the_core_decision(
    kb: KnowledgeBase,
) -> None:
    names = vignette_names()
    fired: dict[str, set[str]] = {}
    for name, issued in _all_cards(kb):
        fired.setdefault(issued.card_type, set()).add(name)
    # IMDC risk and the systemic-therapy choice are the decisions this service exists for.
    everywhere = {t for t, who in fired.items() if len(who) == len(names)}
    assert everywhere <= {"imdc-risk", "systemic-therapy"}, everywhere


def test_every_suggested_order_is_rxnorm_coded(kb: KnowledgeBase) -> None:
    suggestions = 0
    for name in vignette_names():
        for draft in DRAFTS:
            for issued in _order(kb, name, draft):
                for suggestion in issued.card.suggestions or ():
                    for action in suggestion.actions or ():
                        if action.type != "create":
                            continue
                        resource = action.resource
                        assert resource is not None
                        codings = resource["medicationCodeableConcept"].get("coding", [])
                        assert any(c["system"] == RXNORM and c["code"] for c in codings), (
                            name,
                            draft,
                            resource,
                        )
                        suggestions += 1
    assert suggestions > 0


def test_a_regimen_with_an_uncoded_agent_is_not_suggested(kb: KnowledgeBase) -> None:
    uncoded = {a for a, agent in kb.agents.items() if not agent.rxnorm}
    assert uncoded, "every agent is coded: this test has nothing left to check"
    for name in vignette_names():
        for draft in DRAFTS:
            for issued in _order(kb, name, draft):
                for suggestion in issued.card.suggestions or ():
                    for action in suggestion.actions or ():
                        if action.type == "create":
                            assert action.resource is not None
                            text = action.resource["medicationCodeableConcept"]["text"]
                            assert text not in {kb.agents[a].name for a in uncoded}
