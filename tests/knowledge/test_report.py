"""The knowledge base as a review document for clinical sign-off."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from rccnav.knowledge.loader import load_knowledge_base
from rccnav.knowledge.model import KnowledgeBase
from rccnav.knowledge.report import FLAGS, render_report


@pytest.fixture(scope="module")
def markdown(kb: KnowledgeBase) -> str:
    return render_report(kb, "markdown")


@pytest.fixture(scope="module")
def page(kb: KnowledgeBase) -> str:
    return render_report(kb, "html")


def _text(document: str) -> str:
    """What a reader sees: HTML unescaped, Markdown escapes removed."""
    return html.unescape(document).replace("\\", "")


@pytest.fixture(params=["markdown", "html"])
def document(request: pytest.FixtureRequest, markdown: str, page: str) -> str:
    return _text(markdown if request.param == "markdown" else page)


def test_identity_version_and_full_checksum(kb: KnowledgeBase, document: str) -> None:
    assert kb.version in document
    assert kb.checksum in document


def test_every_rule_with_statement_parameters_sources_and_status(
    kb: KnowledgeBase, document: str
) -> None:
    for rule in kb.rules.values():
        assert f"{rule.id} — review status: " in document
        assert rule.statement in document, rule.id
        for name, value in rule.parameters.items():
            assert f"{name} = {value}" in document, (rule.id, name)
        for source_id in rule.sources:
            assert f"{source_id}: {kb.sources[source_id].citation}" in document


def test_every_source_with_its_citation(kb: KnowledgeBase, document: str) -> None:
    for source in kb.sources.values():
        assert re.search(rf"^(### |<h3[^>]*>){re.escape(source.id)}\b", document, re.M), source.id
        assert source.citation in document
        if source.url:
            assert source.url in document


@pytest.mark.parametrize(
    "section",
    [
        "regimens",
        "agents",
        "non_drug_options",
        "therapy_tables",
        "contraindications",
        "therapy_categories",
        "nonstandard_combinations",
    ],
)
def test_every_entry_of_every_section(kb: KnowledgeBase, document: str, section: str) -> None:
    items = getattr(kb, section)
    ids = list(items) if isinstance(items, dict) else [item.id for item in items]
    assert ids
    for entry_id in ids:
        assert re.search(rf"^(### |<h3[^>]*>){re.escape(entry_id)}( —|$|</h3>)", document, re.M)


def test_regimens_show_trial_results_and_dosing(kb: KnowledgeBase, document: str) -> None:
    for regimen in kb.regimens.values():
        for text in (regimen.pivotal_trial, regimen.key_results, regimen.dosing):
            if text:
                assert text in document, regimen.id


def test_default_limits_and_survival_rows(kb: KnowledgeBase, document: str) -> None:
    for row in kb.default_limits:
        assert f"{row.analyte} {row.limit} limit ({row.sex})" in document
    for survival in kb.survival:
        assert f"{survival.model} / {survival.setting} / {survival.risk_group}" in document


def _heading(document: str, title: str) -> int:
    match = re.search(rf"^(## |<h2[^>]*>){re.escape(title)}($|</h2>)", document, re.M)
    assert match, title
    return match.start()


def test_sign_off_comes_first_and_sources_last(document: str) -> None:
    order = [
        "Sign-off",
        "Review status summary",
        "Rules",
        "Recommendation tables",
        "Regimens",
        "Agents",
        "Contraindications",
        "Nonstandard combinations",
        "Default reference limits",
        "Published survival by risk group",
        "Sources",
    ]
    positions = [_heading(document, title) for title in order]
    assert positions == sorted(positions)
    sign_off, rules = positions[0], positions[2]
    assert "Reviewing clinician" in document[sign_off:rules]
    assert document.count("Reviewing clinician") == 1


def test_unverified_items_are_flagged_and_listed(kb: KnowledgeBase, markdown: str) -> None:
    flag = FLAGS["unverified"]
    unverified = [r.id for r in kb.rules.values() if r.status.value == "unverified"]
    verified = [r.id for r in kb.rules.values() if r.status.value == "verified"]
    assert unverified and verified
    for rule_id in unverified:
        assert re.search(rf"^### {re.escape(rule_id)} — .*{re.escape(flag)}", markdown, re.M)
    for rule_id in verified:
        heading = re.search(rf"^### {re.escape(rule_id)} — .*$", markdown, re.M)
        assert heading and flag not in heading.group(0)
    count = sum(
        1
        for section in (
            kb.rules.values(),
            kb.regimens.values(),
            kb.non_drug_options.values(),
            kb.therapy_tables,
            kb.contraindications,
            kb.therapy_categories,
            kb.nonstandard_combinations,
            kb.default_limits,
            kb.survival,
            kb.monitoring,
        )
        for item in section
        if item.status.value == "unverified"
    )
    # One guideline-positions entry per setting and option: unverified if any position is.
    count += sum(
        1
        for options in kb.position_index.values()
        for positions in options.values()
        if any(p.status.value == "unverified" for p in positions)
    )
    assert f"Items awaiting verification ({count})" in markdown


def test_html_marks_unverified_visibly(kb: KnowledgeBase, page: str) -> None:
    rule = next(r for r in kb.rules.values() if r.status.value == "unverified")
    heading = re.search(rf'<h3 class="unverified">{re.escape(rule.id)} — [^\n]*</h3>', page)
    assert heading and html.escape(FLAGS["unverified"]) in heading.group(0)


def test_sources_list_who_cites_them(kb: KnowledgeBase, markdown: str) -> None:
    section = markdown[markdown.rindex("## Sources") :]
    payne = section[section.index("### payne-1973") :]
    payne = payne[: payne.index("\n### ")]
    assert "cited by" in payne and "Rules: calcium.payne" in payne


def test_html_is_escaped(kb_copy: Path) -> None:
    rules = kb_copy / "rules.yaml"
    hostile = "<script>alert('x')</script> & <b>bold</b>"
    text = rules.read_text().replace(
        'statement: "Albumin-corrected calcium (Payne)', f'statement: "{hostile} Payne'
    )
    rules.write_text(text)
    kb = load_knowledge_base(kb_copy)
    page = render_report(kb, "html")
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert html.escape(hostile, quote=True) in page
    markdown = render_report(kb, "markdown")
    assert "<script>" not in markdown


def test_markdown_table_cells_are_escaped(kb_copy: Path) -> None:
    rules = kb_copy / "rules.yaml"
    rules.write_text(
        rules.read_text().replace(
            'statement: "KEYNOTE-564 required ECOG 0-1."', 'statement: "ECOG 0|1 only"'
        )
    )
    markdown = render_report(load_knowledge_base(kb_copy), "markdown")
    assert "ECOG 0\\|1 only" in markdown


def test_checksum_in_the_report_follows_the_files(kb: KnowledgeBase, kb_copy: Path) -> None:
    path = kb_copy / "rules.yaml"
    path.write_text(path.read_text() + "\n# edited\n")
    changed = load_knowledge_base(kb_copy)
    report = render_report(changed, "markdown")
    assert changed.checksum in report and kb.checksum not in report


def test_unknown_format_is_refused(kb: KnowledgeBase) -> None:
    with pytest.raises(ValueError, match="pdf"):
        render_report(kb, "pdf")
