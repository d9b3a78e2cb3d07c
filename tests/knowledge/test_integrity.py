"""KB integrity: references resolve, code and rules.yaml agree, errors name the item."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from rccnav.knowledge.loader import (
    KB_FILES,
    KnowledgeBaseError,
    default_data_dir,
    integrity_problems,
    load_knowledge_base,
)
from rccnav.knowledge.model import KnowledgeBase

CORE = Path(__file__).resolve().parents[2] / "src" / "rccnav" / "core"
INN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
PREFIX_USED_RULES = "therapy.not-for-"  # found by prefix in systemic_therapy._explicit_exclusions

# --- the bundled knowledge base -------------------------------------------------------------------


def test_bundled_knowledge_base_has_no_integrity_problems(kb: KnowledgeBase) -> None:
    assert integrity_problems(kb) == []
    assert kb.version
    assert re.fullmatch(r"[0-9a-f]{64}", kb.checksum)


def test_no_orphan_regimen(kb: KnowledgeBase) -> None:
    listed = {
        o for t in kb.therapy_tables for o in (*t.preferred, *t.other, *t.certain_circumstances)
    }
    suggested = {r for c in kb.nonstandard_combinations for r in c.likely_meant}
    assert set(kb.regimens) - listed - suggested == set()


def test_every_table_option_exists(kb: KnowledgeBase) -> None:
    for table in kb.therapy_tables:
        for option in (*table.preferred, *table.other, *table.certain_circumstances):
            assert option in kb.option_ids(), f"{table.id} lists unknown {option}"


def test_an_option_appears_once_per_table(kb: KnowledgeBase) -> None:
    for table in kb.therapy_tables:
        options = [*table.preferred, *table.other, *table.certain_circumstances]
        assert len(options) == len(set(options)), table.id


def test_every_cited_item_cites_known_sources(kb: KnowledgeBase) -> None:
    cited: list[tuple[str, tuple[str, ...]]] = [
        *((f"rule {r.id}", r.sources) for r in kb.rules.values()),
        *((f"regimen {r.id}", r.sources) for r in kb.regimens.values()),
        *((f"table {t.id}", t.sources) for t in kb.therapy_tables),
        *((f"contraindication {c.id}", c.sources) for c in kb.contraindications),
        *((f"category {c.id}", c.sources) for c in kb.therapy_categories),
        *((f"combination {c.id}", c.sources) for c in kb.nonstandard_combinations),
        *((f"limit {d.analyte}", d.sources) for d in kb.default_limits),
        *((f"survival {s.model}/{s.risk_group}", s.sources) for s in kb.survival),
    ]
    for owner, sources in cited:
        assert sources, f"{owner} cites nothing"
        assert set(sources) <= set(kb.sources), f"{owner}: {set(sources) - set(kb.sources)}"


#: Sources listed for the reviewer's benefit that no item cites yet, each with why it is kept.
UNCITED_ON_PURPOSE = {
    "motzer-1999",  # the original MSKCC model (reference §2.1); rccnav implements the 2002 one
    "mcode-ig",  # LOINC codes of the performance-status profiles (reference §3.4)
    "eau-2020-changes",  # medullary carcinoma nephrectomy after response (reference §6.2)
}


def test_every_source_is_cited_or_kept_on_purpose(kb: KnowledgeBase) -> None:
    raw = "\n".join(
        (default_data_dir() / name).read_text() for name in KB_FILES if name != "sources.yaml"
    )
    uncited = {s for s in kb.sources if not re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", raw)}
    assert uncited <= UNCITED_ON_PURPOSE
    assert set(kb.sources) >= UNCITED_ON_PURPOSE


# --- regimen ids: the DESIGN.md contract ----------------------------------------------------------


def test_regimen_ids_are_sorted_inns_joined_by_plus(kb: KnowledgeBase) -> None:
    for regimen in kb.regimens.values():
        assert regimen.id == "+".join(sorted(regimen.agents)), regimen.id
        for agent in regimen.agents:
            assert INN.fullmatch(agent), f"{regimen.id}: {agent!r} is not a lowercase INN"
            assert agent in kb.agents


@pytest.mark.parametrize(
    "regimen",
    [
        "axitinib+pembrolizumab",
        "cabozantinib+nivolumab",
        "ipilimumab+nivolumab",
        "lenvatinib+pembrolizumab",
        "avelumab+axitinib",
        "cabozantinib",
        "sunitinib",
        "aldesleukin",
        "bevacizumab+erlotinib",
    ],
)
def test_design_example_regimens_exist(kb: KnowledgeBase, regimen: str) -> None:
    assert regimen in kb.regimens


def test_non_drug_options_of_the_contract(kb: KnowledgeBase) -> None:
    assert {"active-surveillance", "clinical-trial"} <= set(kb.non_drug_options)


def test_agent_ids_are_lowercase_inns(kb: KnowledgeBase) -> None:
    for agent_id in kb.agents:
        assert INN.fullmatch(agent_id), agent_id


@pytest.mark.parametrize(
    ("name", "agent"),
    [
        ("Opdivo", "nivolumab"),
        ("KEYTRUDA", "pembrolizumab"),
        ("Cabometyx", "cabozantinib"),
        ("IL-2", "aldesleukin"),
        ("interferon alfa", "interferon-alfa-2b"),
        ("Medroxyprogesterone Acetate", "medroxyprogesterone"),
    ],
)
def test_brand_names_and_aliases_resolve(kb: KnowledgeBase, name: str, agent: str) -> None:
    assert kb.resolve_agent(name) == agent


def test_param_refuses_a_non_number(kb: KnowledgeBase) -> None:
    assert kb.param("prognosis.lab-lookback", "days") == 28.0
    with pytest.raises(TypeError, match="not a number"):
        kb.param("therapy.not-for-favorable-ipilimumab-nivolumab", "regimen")


# --- the code and rules.yaml agree ----------------------------------------------------------------


def _core_trees() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(CORE.rglob("*.py"))]


def _literal_rule_arguments() -> set[tuple[str, str]]:
    """String literals passed as the rule id to because(kb, ...), kb.rule(...), kb.param(...)."""
    found: set[tuple[str, str]] = set()
    for path, tree in _core_trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            index = None
            if isinstance(func, ast.Name) and func.id == "because":
                index = 1
            elif isinstance(func, ast.Attribute) and func.attr in {"rule", "param"}:
                index = 0
            if index is None or len(node.args) <= index:
                continue
            arg = node.args[index]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add((arg.value, f"{path.name}:{node.lineno}"))
    return found


def _string_constants() -> set[str]:
    return {
        node.value
        for _, tree in _core_trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


def _rules_yaml_ids() -> list[str]:
    data = yaml.safe_load((default_data_dir() / "rules.yaml").read_text())
    return [rule["id"] for rule in data["rules"]]


def test_the_scan_finds_the_rule_calls() -> None:
    # Guard the guard: if the scan found nothing, the next test would pass vacuously.
    used = {rule for rule, _ in _literal_rule_arguments()}
    assert {"cn.avoid-poor-risk", "prognosis.lab-lookback", "prognosis.mskcc"} <= used
    assert len(used) > 40


def test_every_rule_the_code_uses_exists() -> None:
    rules = set(_rules_yaml_ids())
    missing = {(rule, where) for rule, where in _literal_rule_arguments() if rule not in rules}
    assert missing == set()


def test_every_rule_like_constant_in_the_code_exists() -> None:
    # Rule ids also travel through variables (classify(..., "prognosis.imdc"), the genetics
    # gene table, local_therapy._measure): any constant in a rule namespace must be a rule.
    rules = set(_rules_yaml_ids())
    namespaces = {rule.split(".")[0] for rule in rules}
    constants = {
        c
        for c in _string_constants()
        if re.fullmatch(r"[a-z]+\.[a-z0-9-]+", c) and c.split(".")[0] in namespaces
    }
    assert constants - rules - {PREFIX_USED_RULES} == set()


def test_every_rule_in_rules_yaml_is_used_by_the_code() -> None:
    constants = _string_constants()
    unused = [
        rule
        for rule in _rules_yaml_ids()
        if rule not in constants and not rule.startswith(PREFIX_USED_RULES)
    ]
    assert unused == []
    assert PREFIX_USED_RULES in constants


def test_rule_ids_are_unique_in_the_file() -> None:
    ids = _rules_yaml_ids()
    assert len(ids) == len(set(ids))


def test_prefix_rules_carry_the_parameters_the_code_reads(kb: KnowledgeBase) -> None:
    for rule in kb.rules.values():
        if rule.id.startswith(PREFIX_USED_RULES):
            assert {"regimen", "risk_groups", "histologies"} <= set(rule.parameters), rule.id
            assert str(rule.parameters["regimen"]) in kb.regimens


# --- corrupted copies fail loudly, naming the item ------------------------------------------------


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path.name}"
    path.write_text(text.replace(old, new, 1))


def test_unmodified_copy_loads_with_the_same_checksum(kb: KnowledgeBase, kb_copy: Path) -> None:
    assert load_knowledge_base(kb_copy).checksum == kb.checksum


def test_unknown_source_id_is_named(kb_copy: Path) -> None:
    _edit(kb_copy / "rules.yaml", "sources: [payne-1973]", "sources: [payne-1937]")
    with pytest.raises(
        KnowledgeBaseError, match=r"rule calcium\.payne cites unknown source 'payne-1937'"
    ):
        load_knowledge_base(kb_copy)


def test_duplicate_id_is_named(kb_copy: Path) -> None:
    path = kb_copy / "sources.yaml"
    path.write_text(
        path.read_text() + '  - {id: carmena, kind: trial, citation: "a second CARMENA"}\n'
    )
    with pytest.raises(KnowledgeBaseError, match=r"sources: duplicate id 'carmena'"):
        load_knowledge_base(kb_copy)


def test_duplicate_rule_id_is_named(kb_copy: Path) -> None:
    _edit(
        kb_copy / "rules.yaml",
        "- id: cn.avoid-rapid-progression",
        "- id: cn.avoid-poor-performance",
    )
    with pytest.raises(
        KnowledgeBaseError, match=r"rules: duplicate id 'cn\.avoid-poor-performance'"
    ):
        load_knowledge_base(kb_copy)


def test_bad_yaml_names_the_file(kb_copy: Path) -> None:
    (kb_copy / "safety.yaml").write_text("contraindications: [\n  {id: broken\n")
    with pytest.raises(KnowledgeBaseError, match=r"safety\.yaml: not valid YAML"):
        load_knowledge_base(kb_copy)


def test_top_level_must_be_a_mapping(kb_copy: Path) -> None:
    (kb_copy / "meta.yaml").write_text("- just\n- a list\n")
    with pytest.raises(KnowledgeBaseError, match=r"meta\.yaml: top level must be a mapping"):
        load_knowledge_base(kb_copy)


def test_missing_file_is_named(kb_copy: Path) -> None:
    (kb_copy / "prognosis.yaml").unlink()
    with pytest.raises(KnowledgeBaseError, match=r"missing: .*prognosis\.yaml"):
        load_knowledge_base(kb_copy)


def test_schema_violation_names_the_field(kb_copy: Path) -> None:
    _edit(kb_copy / "rules.yaml", "status: design-choice", "status: probably-fine")
    with pytest.raises(KnowledgeBaseError, match=r"does not match its schema[\s\S]*status"):
        load_knowledge_base(kb_copy)


def test_regimen_id_breaking_the_contract_is_named(kb_copy: Path) -> None:
    _edit(kb_copy / "regimens.yaml", "- id: axitinib+pembrolizumab", "- id: pembrolizumab+axitinib")
    _edit(kb_copy / "therapy_tables.yaml", "axitinib+pembrolizumab", "pembrolizumab+axitinib")
    with pytest.raises(KnowledgeBaseError, match=r"regimen id 'pembrolizumab\+axitinib' is not"):
        load_knowledge_base(kb_copy)


def test_table_listing_an_unknown_regimen_is_named(kb_copy: Path) -> None:
    _edit(
        kb_copy / "therapy_tables.yaml",
        "certain_circumstances: [temsirolimus]",
        "certain_circumstances: [temsirolimus, ipilimumab+cabozantinib]",
    )
    with pytest.raises(
        KnowledgeBaseError,
        match=r"first-line\.clear-cell\.poor-only lists unknown option 'ipilimumab\+cabozantinib'",
    ):
        load_knowledge_base(kb_copy)


def test_orphan_regimen_is_named(kb_copy: Path) -> None:
    path = kb_copy / "regimens.yaml"
    entry = (
        "  - {{id: {id}, agents: [nivolumab, tivozanib], name: x, sources: [tinivo-2], "
        "status: verified}}\n"
    )
    text = path.read_text().replace(
        "\nnon_drug_options:",
        "\n"
        + entry.format(id="tivozanib+nivolumab")
        + entry.format(id="nivolumab+tivozanib")
        + "\nnon_drug_options:",
    )
    path.write_text(text)
    with pytest.raises(KnowledgeBaseError) as error:
        load_knowledge_base(kb_copy)
    assert "regimen nivolumab+tivozanib is an orphan" in str(error.value)
    assert "regimen id 'tivozanib+nivolumab' is not" in str(error.value)


def test_unknown_agent_in_a_regimen_is_named(kb_copy: Path) -> None:
    _edit(
        kb_copy / "regimens.yaml",
        "agents: [bevacizumab, erlotinib]",
        "agents: [bevacizumab, erlotinibb]",
    )
    with pytest.raises(
        KnowledgeBaseError, match=r"regimen bevacizumab\+erlotinib uses unknown agent 'erlotinibb'"
    ):
        load_knowledge_base(kb_copy)


def test_alias_shared_by_two_agents_is_named(kb_copy: Path) -> None:
    _edit(kb_copy / "agents.yaml", "aliases: [Sutent]", "aliases: [Sutent, Opdivo]")
    with pytest.raises(KnowledgeBaseError, match=r"'Opdivo' maps to two agents"):
        load_knowledge_base(kb_copy)


def test_empty_version_is_a_problem(kb_copy: Path) -> None:
    path = kb_copy / "meta.yaml"
    path.write_text(re.sub(r'(?m)^  version: ".*"$', '  version: ""', path.read_text(), count=1))
    with pytest.raises(KnowledgeBaseError, match=r"meta\.version is empty"):
        load_knowledge_base(kb_copy)


# --- checksum -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", KB_FILES)
def test_checksum_changes_when_any_file_changes(
    kb: KnowledgeBase, kb_copy: Path, name: str
) -> None:
    path = kb_copy / name
    path.write_text(path.read_text() + "\n# reviewed\n")
    changed = load_knowledge_base(kb_copy)
    assert changed.checksum != kb.checksum
    # Only the fingerprint changed, not the content.
    assert changed.rules == kb.rules


def test_checksum_is_stable_across_loads(kb_copy: Path) -> None:
    assert load_knowledge_base(kb_copy).checksum == load_knowledge_base(kb_copy).checksum


def test_monitoring_item_naming_no_drug_is_refused(kb_copy: Path) -> None:
    _edit(
        kb_copy / "monitoring.yaml",
        "  - id: aldesleukin.cardiopulmonary\n    agents: [aldesleukin]\n",
        "  - id: aldesleukin.cardiopulmonary\n",
    )
    with pytest.raises(KnowledgeBaseError, match=r"aldesleukin\.cardiopulmonary.*names no agent"):
        load_knowledge_base(kb_copy)


def test_monitoring_item_with_unknown_agent_or_source_is_named(kb_copy: Path) -> None:
    _edit(kb_copy / "monitoring.yaml", "agents: [aldesleukin]", "agents: [aldeslukin]")
    _edit(kb_copy / "monitoring.yaml", "sources: [fda-labels, fyfe-1995]", "sources: [fyfe-1959]")
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(kb_copy)
    assert "monitoring aldesleukin.cardiopulmonary names unknown agent 'aldeslukin'" in str(
        raised.value
    )
    assert "monitoring aldesleukin.cardiopulmonary cites unknown source 'fyfe-1959'" in str(
        raised.value
    )
