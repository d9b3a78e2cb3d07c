"""The NCCN / EAU / ESMO positions table: integrity, content against the reference, views."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rccnav.knowledge.compiled_cache import cache_dir
from rccnav.knowledge.loader import KnowledgeBaseError, load_knowledge_base
from rccnav.knowledge.model import GUIDELINE_BODIES, KnowledgeBase

FAVORABLE = "first-line.clear-cell.favorable"
INTERMEDIATE_POOR = "first-line.clear-cell.intermediate-poor"


def listing(kb: KnowledgeBase, table: str, option: str) -> dict[str, str]:
    return {p.body: p.listing for p in kb.positions(table, option)}


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


# --- integrity --------------------------------------------------------------------------------


def test_every_therapy_table_has_positions_for_every_option_and_guideline(
    kb: KnowledgeBase,
) -> None:
    for table in kb.therapy_tables:
        for option in (*table.preferred, *table.other, *table.certain_circumstances):
            bodies = {p.body for p in kb.positions(table.id, option)}
            assert bodies == set(GUIDELINE_BODIES), f"{table.id}: {option} has {bodies}"


def test_every_position_cites_its_guideline_and_existing_sources(kb: KnowledgeBase) -> None:
    own = {b.id: b.source for b in kb.guideline_positions.bodies}
    assert own == {"nccn": "nccn-2025", "eau": "eau-2025", "esmo": "esmo-2024"}
    for options in kb.position_index.values():
        for positions in options.values():
            for position in positions:
                assert position.sources[0] == own[position.body]
                assert set(position.sources) <= set(kb.sources)


def test_the_table_is_versioned_and_awaits_sign_off(kb: KnowledgeBase) -> None:
    assert kb.guideline_positions.version
    assert kb.guideline_positions.sign_off["status"] == "pending-clinical-review"


def test_unknown_setting_is_named(kb_copy: Path) -> None:
    _edit(
        kb_copy / "guideline_positions.yaml",
        "- setting: first-line.clear-cell.poor-only",
        "- setting: first-line.clear-cell.poor-onyl",
    )
    with pytest.raises(KnowledgeBaseError, match=r"poor-onyl: no therapy table has this id"):
        load_knowledge_base(kb_copy)


def test_unknown_option_is_named(kb_copy: Path) -> None:
    _edit(kb_copy / "guideline_positions.yaml", "        temsirolimus:\n", "        temsirolimu:\n")
    with pytest.raises(KnowledgeBaseError, match=r"unknown option 'temsirolimu'"):
        load_knowledge_base(kb_copy)


def test_unknown_source_is_named(kb_copy: Path) -> None:
    _edit(kb_copy / "guideline_positions.yaml", "sources: [arcc]", "sources: [arcc-2007]")
    with pytest.raises(KnowledgeBaseError, match=r"temsirolimus cites unknown source 'arcc-2007'"):
        load_knowledge_base(kb_copy)


def test_a_missing_guideline_is_named(kb_copy: Path) -> None:
    _edit(
        kb_copy / "guideline_positions.yaml",
        "          esmo: {listing: not-addressed}\n\n    # --- later lines",
        "\n    # --- later lines",
    )
    with pytest.raises(KnowledgeBaseError, match=r"temsirolimus has no position for esmo"):
        load_knowledge_base(kb_copy)


def test_a_guideline_only_option_must_say_where_the_merged_view_shows_it(
    kb_copy: Path,
) -> None:
    path = kb_copy / "guideline_positions.yaml"
    data = yaml.safe_load(path.read_text())
    favorable = data["guideline_positions"]["settings"][0]
    assert favorable["setting"] == FAVORABLE
    del favorable["options"]["ipilimumab+nivolumab"]["merged"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(KnowledgeBaseError, match=r"ipilimumab\+nivolumab is listed by a guideline"):
        load_knowledge_base(kb_copy)


def test_an_unlisted_therapy_table_option_is_named(kb_copy: Path) -> None:
    _edit(
        kb_copy / "therapy_tables.yaml",
        "certain_circumstances: [temsirolimus]",
        "certain_circumstances: [temsirolimus, everolimus]",
    )
    with pytest.raises(KnowledgeBaseError, match=r"poor-only: no positions for 'everolimus'"):
        load_knowledge_base(kb_copy)


def test_a_change_to_the_table_changes_the_checksum_and_the_cached_copy(
    kb: KnowledgeBase, kb_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCCNAV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RCCNAV_NO_CACHE", raising=False)
    assert cache_dir() == tmp_path / "cache"
    before = load_knowledge_base(kb_copy)  # builds and stores the compiled copy
    assert before.checksum == kb.checksum
    _edit(
        kb_copy / "guideline_positions.yaml",
        "temsirolimus:\n          nccn: {listing: certain-circumstances, note: poor risk",
        "temsirolimus:\n          nccn: {listing: certain-circumstances, note: poor risk only",
    )
    after = load_knowledge_base(kb_copy)
    assert after.checksum != before.checksum
    texts = [p.text for p in after.positions("first-line.clear-cell.poor-only", "temsirolimus")]
    assert "useful in certain circumstances (poor risk only)" in texts


# --- content: reference §4.2 ------------------------------------------------------------------


def test_ipilimumab_nivolumab_favorable_is_nccn_2b_and_not_eau_esmo(kb: KnowledgeBase) -> None:
    assert listing(kb, FAVORABLE, "ipilimumab+nivolumab") == {
        "nccn": "other-recommended",
        "eau": "not-recommended",
        "esmo": "not-recommended",
    }
    nccn = kb.positions(FAVORABLE, "ipilimumab+nivolumab")[0]
    assert nccn.strength == "category 2B"
    statement = kb.disagreement_index[FAVORABLE]["ipilimumab+nivolumab"]
    assert "NCCN lists it" in statement and "EAU and ESMO do not recommend it" in statement
    assert listing(kb, INTERMEDIATE_POOR, "ipilimumab+nivolumab") == {
        "nccn": "preferred",
        "eau": "recommended",
        "esmo": "recommended",
    }
    assert "ipilimumab+nivolumab" not in kb.disagreement_index[INTERMEDIATE_POOR]


def test_avelumab_axitinib_eau_esmo_point_is_the_verified_one(kb: KnowledgeBase) -> None:
    # Reference §4.2 verified point [100]: EAU and ESMO do not recommend it first line.
    for table in (FAVORABLE, INTERMEDIATE_POOR):
        positions = {p.body: p for p in kb.positions(table, "avelumab+axitinib")}
        assert positions["nccn"].listing == "other-recommended"
        assert positions["nccn"].status.value == "unverified"
        for body in ("eau", "esmo"):
            assert positions[body].listing == "not-recommended"
            assert positions[body].status.value == "verified"
            assert "bjmo-2025-javelin" in positions[body].sources


def test_cabozantinib_intermediate_poor_nccn_preferred_eau_esmo_when_no_ici(
    kb: KnowledgeBase,
) -> None:
    positions = {p.body: p for p in kb.positions(INTERMEDIATE_POOR, "cabozantinib")}
    assert positions["nccn"].listing == "preferred"
    assert positions["nccn"].strength == "category 2A"
    for body in ("eau", "esmo"):
        assert positions[body].condition == "when a checkpoint inhibitor cannot be given"
        assert positions[body].category == "certain-circumstances"
    assert "rank it differently" in kb.disagreement_index[INTERMEDIATE_POOR]["cabozantinib"]


def test_recalled_positions_are_unverified(kb: KnowledgeBase) -> None:
    verified = {
        (table, option, p.body)
        for table, options in kb.position_index.items()
        for option, positions in options.items()
        for p in positions
        if p.status.value == "verified"
    }
    # Only the verified points under the reference's table (avelumab + axitinib, EAU/ESMO).
    assert {option for _, option, _ in verified} == {"avelumab+axitinib"}


def test_unknown_positions_are_not_recorded_never_not_recommended(kb: KnowledgeBase) -> None:
    # Reference §5.3 records no EAU/ESMO later-line list: unknown, not "not recommended".
    later = kb.positions("subsequent.clear-cell.after-checkpoint-and-vegf", "cabozantinib")
    assert {p.body: p.listing for p in later} == {
        "nccn": "preferred",
        "eau": "not-recorded",
        "esmo": "not-recorded",
    }


# --- views ------------------------------------------------------------------------------------


def _table(kb: KnowledgeBase, view: str, table_id: str) -> dict[str, set[str]]:
    table = next(t for t in kb.tables_for(view) if t.id == table_id)
    return {
        "preferred": set(table.preferred),
        "other": set(table.other),
        "certain-circumstances": set(table.certain_circumstances),
    }


def test_each_view_lists_what_its_guideline_lists(kb: KnowledgeBase) -> None:
    nccn = _table(kb, "nccn", FAVORABLE)
    assert "ipilimumab+nivolumab" in nccn["other"]
    assert "avelumab+axitinib" in nccn["other"]
    eau = _table(kb, "eau", FAVORABLE)
    every = set().union(*eau.values())
    assert not every & {"ipilimumab+nivolumab", "avelumab+axitinib", "aldesleukin"}
    assert {"sunitinib", "pazopanib"} <= eau["certain-circumstances"]  # when no ICI
    merged = _table(kb, "all", FAVORABLE)
    assert "ipilimumab+nivolumab" in merged["certain-circumstances"]
    assert set(kb.unlisted_index["eau"][FAVORABLE]) >= {"ipilimumab+nivolumab"}


def test_a_not_recorded_position_keeps_the_merged_category(kb: KnowledgeBase) -> None:
    table = "subsequent.clear-cell.after-checkpoint-only"
    assert _table(kb, "eau", table) == _table(kb, "all", table)


def test_the_sign_off_report_shows_each_position_for_review(kb: KnowledgeBase) -> None:
    from rccnav.knowledge.report import render_report

    report = render_report(kb, "markdown")
    entry = report.split(f"### {FAVORABLE} / ipilimumab+nivolumab", 1)[1].split("###", 1)[0]
    assert "**NCCN**: other recommended (category 2B) [unverified]" in entry
    assert "**EAU**: not recommended" in entry and "**disagreement**" in entry
    assert "UNVERIFIED" in entry
    assert "View tables" not in report  # derived look-ups are not content to review
