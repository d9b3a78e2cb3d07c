"""What assess() looks up instead of working out again gives the same answers.

The knowledge base's numeric parameters are indexed at load, and one table of safety
facts per assessment answers each question once; both must agree with the plain
computation they replace, for every parameter and for every fact on every vignette.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rccnav.core.case import Case
from rccnav.core.decisions.safety_facts import Facts, fact
from rccnav.knowledge.loader import default_knowledge_base

from ..conftest import kb_variant, make_case

CASES = sorted((Path(__file__).parents[2] / "vignettes" / "cases").glob("*.yaml"))


def _vignette(path: Path) -> Case:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.pop("expected", None)
    data.pop("xfail_reason", None)
    return Case.model_validate(data)


def test_every_numeric_parameter_is_indexed_with_its_value() -> None:
    kb = default_knowledge_base()
    numeric = 0
    for rule in kb.rules.values():
        for name, value in rule.parameters.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                assert name not in kb.numbers[rule.id]
                with pytest.raises(TypeError):
                    kb.param(rule.id, name)
                continue
            numeric += 1
            assert kb.numbers[rule.id][name] == float(value)
            assert kb.param(rule.id, name) == float(value)
    assert numeric > 30


def test_an_unindexed_knowledge_base_reads_the_rules() -> None:
    kb = default_knowledge_base()
    bare = kb.model_copy(update={"numbers": {}})
    assert bare.param("prognosis.lab-lookback", "days") == kb.param(
        "prognosis.lab-lookback", "days"
    )
    with pytest.raises(KeyError):
        bare.param("prognosis.lab-lookback", "no-such-parameter")


def test_an_edited_parameter_is_what_param_returns() -> None:
    def change(data: dict[str, object]) -> None:
        for rule in data["rules"]:  # type: ignore[attr-defined]
            if rule["id"] == "prognosis.lab-lookback":
                rule["parameters"]["days"] = 14

    assert kb_variant(change).param("prognosis.lab-lookback", "days") == 14.0


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_the_fact_table_agrees_with_each_fact(path: Path) -> None:
    kb = default_knowledge_base()
    case = _vignette(path)
    table = Facts(case, kb)
    for rule in kb.contraindications:
        assert table[rule.comorbidity] == fact(case, rule.comorbidity, kb), rule.comorbidity
    # A second look-up is the stored answer, not a new computation.
    assert all(table[name] is value for name, value in table.items())


def test_the_fact_table_answers_derived_facts_too() -> None:
    kb = default_knowledge_base()
    case = make_case(
        comorbidities={"immune_related_adverse_events": [{"organ": "myocarditis", "grade": 2}]}
    )
    table = Facts(case, kb)
    assert table["ici_rechallenge_barred"] is True
    assert table["ici_rechallenge_barred"] == fact(case, "ici_rechallenge_barred", kb)
