"""Clinical vignettes as case files: each file is a Case plus the answer a clinician expects.

Every ``cases/NNN-name.yaml`` holds the project's own case-file format (the input of
``Case.model_validate``) and, at the top level, ``expected`` with:

- ``on``: the assessment date;
- ``why``: the clinical reason, citing ``shared/clinical-reference.md`` sections and source ids;
- ``expect``: the keys below, checked against the JSON form of ``rccnav.assess(...)``. Only
  the keys named are checked; everything else is the engine's to decide. Besides the
  recommendations themselves, ``rules_cited`` (rule id -> source ids it must cite) and
  ``rules_absent`` pin which knowledge-base statement the answer rests on, and the
  ``*_text_has`` keys check what the clinician is told (case-insensitive substrings);
- optionally ``guideline``: ``nccn``, ``eau`` or ``esmo`` to assess in that guideline's view
  (``rccnav assess --guideline``); default: the merged view.

docs/vignettes.md maps each issue-8 finding and knowledge-base correction to its files.

An optional top-level ``xfail_reason`` marks a vignette whose clinically derived expectation
the engine does not meet yet; the test then runs as a strict xfail (it must keep failing
until the core is fixed, at which point the marker must be removed).

The expectations were derived from the clinical reference and the knowledge-base rules,
never by running the engine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

import rccnav
from rccnav import Case, default_knowledge_base
from rccnav.knowledge.model import CHECKPOINT_CLASSES, KnowledgeBase

CASES = Path(__file__).parent / "cases"

Result = dict[str, Any]
Check = Callable[[Result, Any, KnowledgeBase], list[str]]


def _regimen_has_checkpoint_inhibitor(regimen: str, kb: KnowledgeBase) -> bool:
    known = kb.regimens.get(regimen)
    agents = known.agents if known is not None else tuple(regimen.split("+"))
    return any(kb.agent_class(agent) in CHECKPOINT_CLASSES for agent in agents)


def _equals(path: tuple[str, ...]) -> Check:
    def check(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
        actual: Any = result
        for key in path:
            actual = actual[key]
        name = ".".join(path)
        return [] if actual == expected else [f"{name} is {actual!r}, expected {expected!r}"]

    return check


def _same_set(path: tuple[str, ...]) -> Check:
    def check(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
        actual: Any = result
        for key in path:
            actual = actual[key]
        name = ".".join(path)
        ok = set(actual) == set(expected)
        return [] if ok else [f"{name} is {sorted(actual)}, expected {sorted(expected)}"]

    return check


def _factor_status(model: str) -> Check:
    def check(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
        factors = {f["name"]: f for f in result[model]["factors"]}
        statuses = {name: f["status"] for name, f in factors.items()}
        problems = []
        for name, status in expected.items():
            if name not in statuses:
                problems.append(f"{model} has no factor {name!r} (has {sorted(statuses)})")
            elif statuses[name] != status:
                evidence = factors[name]["evidence"]
                problems.append(
                    f"{model}.{name} is {statuses[name]!r}, expected {status!r} ({evidence})"
                )
        return problems

    return check


def _contains(values: Callable[[Result], list[str]], label: str, present: bool) -> Check:
    def check(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
        actual = values(result)
        wrong = [v for v in expected if (v in actual) != present]
        if not wrong:
            return []
        verb = "lacks" if present else "contains"
        return [f"{label} {verb} {wrong} (it is {actual})"]

    return check


def _preferred(result: Result) -> list[str]:
    return list(result["systemic_therapy"]["preferred"])


def _any_category(result: Result) -> list[str]:
    therapy = result["systemic_therapy"]
    return [*therapy["preferred"], *therapy["other"], *therapy["certain_circumstances"]]


def _warning_codes(result: Result) -> list[str]:
    return [w["code"] for w in result["warnings"]]


def _local_ids(result: Result) -> list[str]:
    return [m["id"] for m in result["local_therapy"]]


def _excluded(result: Result) -> list[str]:
    return [e["regimen"] for e in result["systemic_therapy"]["excluded"]]


def _moved(result: Result) -> list[str]:
    return [o["regimen"] for o in result["systemic_therapy"]["options"] if o["moved_from"]]


def _no_preferred_steps(result: Result) -> list[str]:
    explained = result["systemic_therapy"]["no_preferred"]
    return list(explained["next_steps"]) if explained else []


def _cited(node: Any) -> dict[str, set[str]]:
    """Every rule id anywhere in the result with the union of sources it was cited with."""
    found: dict[str, set[str]] = {}
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            rule = item.get("rule")
            if isinstance(rule, str):
                found.setdefault(rule, set()).update(item.get("sources") or ())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _rules_cited(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    cited = _cited(result)
    problems = []
    for rule, sources in expected.items():
        if rule not in cited:
            problems.append(f"rule {rule} is not cited (cited: {sorted(cited)})")
        elif missing := set(sources) - cited[rule]:
            problems.append(f"rule {rule} lacks sources {sorted(missing)}")
    return problems


def _rules_absent(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    cited = _cited(result)
    return [f"rule {rule} is cited" for rule in expected if rule in cited]


def _texts_have(label: str, texts: Callable[[Result, str], list[str] | None]) -> Check:
    """For each key (a regimen, measure, decision or warning code), its texts must
    contain every expected substring (case-insensitive)."""

    def check(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
        problems = []
        for key, wanted in expected.items():
            found = texts(result, key)
            if found is None:
                problems.append(f"{label} {key!r} is not in the result")
                continue
            joined = " ".join(found).lower()
            lacking = [w for w in wanted if w.lower() not in joined]
            if lacking:
                problems.append(f"{label} {key!r} lacks {lacking} (it says: {' | '.join(found)})")
        return problems

    return check


def _caution_texts(result: Result, regimen: str) -> list[str] | None:
    for option in result["systemic_therapy"]["options"]:
        if option["regimen"] == regimen:
            return list(option["cautions"])
    return None


def _excluded_texts(result: Result, regimen: str) -> list[str] | None:
    found = [
        e["reason"]["text"]
        for e in result["systemic_therapy"]["excluded"]
        if e["regimen"] == regimen
    ]
    return found or None


def _local_texts(result: Result, measure: str) -> list[str] | None:
    for m in result["local_therapy"]:
        if m["id"] == measure:
            return [m["title"], *(r["text"] for r in m["reasons"])]
    return None


def _decision_texts(result: Result, decision: str) -> list[str] | None:
    node = result.get(decision)
    if not isinstance(node, dict) or "recommendation" not in node:
        return None
    return [*(r["text"] for r in node["reasons"]), *node.get("unknowns", ())]


def _systemic_reasons(present: bool) -> Check:
    """Substrings that must (or must not) appear in the systemic-therapy reasons."""

    def check(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
        texts = " | ".join(r["text"] for r in result["systemic_therapy"]["reasons"]).lower()
        return [
            f"systemic-therapy reasons {'lack' if present else 'contain'} {wanted!r}"
            for wanted in expected
            if (str(wanted).lower() in texts) is not present
        ]

    return check


def _warning_texts(result: Result, code: str) -> list[str] | None:
    found = [w["message"] for w in result["warnings"] if w["code"] == code]
    return found or None


def _survival_caveats(result: Result, model: str) -> list[str] | None:
    rows = result[model]["survival"]
    if not rows:
        return None
    # Every row shown must carry the caveat: an empty one fails the substring check.
    return [row["caveat"] or "" for row in rows] if all(r["caveat"] for r in rows) else [""]


def _before_treating(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    checks = {b["option"]: {c["id"] for c in b["checks"]} for b in result["before_treating"]}
    problems = []
    for option, wanted in expected.items():
        if option not in checks:
            problems.append(f"before_treating has no {option!r} (has {sorted(checks)})")
        elif missing := set(wanted) - checks[option]:
            problems.append(f"before_treating {option!r} lacks {sorted(missing)}")
    return problems


def _no_preferred(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    therapy = result["systemic_therapy"]
    explained = therapy["no_preferred"] is not None
    if explained != bool(expected):
        return [f"systemic_therapy.no_preferred is {therapy['no_preferred']!r}"]
    if explained and (therapy["preferred"] or not therapy["no_preferred"]["reason"]["text"]):
        return ["no_preferred set while options are preferred, or without a reason"]
    return []


def _all_listed(result: Result) -> dict[str, dict[str, Any]]:
    therapy = result["systemic_therapy"]
    return {
        **{e["regimen"]: e for e in therapy["excluded"]},
        **{o["regimen"]: o for o in therapy["options"]},
    }


def _disagreement_has(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    listed = _all_listed(result)
    return [
        f"{regimen} shows no guideline disagreement"
        for regimen in expected
        if not (listed.get(regimen) or {}).get("guideline_disagreement")
    ]


def _positions(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    listed = _all_listed(result)
    problems = []
    for regimen, want in expected.items():
        if regimen not in listed:
            problems.append(f"{regimen} is neither shown nor excluded")
            continue
        have = {p["guideline"]: p["listing"] for p in listed[regimen]["guideline_positions"]}
        wrong = {
            body: have.get(body) for body, listing in want.items() if have.get(body) != listing
        }
        if wrong:
            problems.append(f"{regimen} guideline positions {have}, expected {want}")
    return problems


def _category(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    options = {o["regimen"]: o["category"] for o in result["systemic_therapy"]["options"]}
    return [
        f"{regimen} is {options.get(regimen)!r}, expected {category!r}"
        for regimen, category in expected.items()
        if options.get(regimen) != category
    ]


def _pref_lacks_ici(result: Result, expected: Any, kb: KnowledgeBase) -> list[str]:
    with_ici = [r for r in _preferred(result) if _regimen_has_checkpoint_inhibitor(r, kb)]
    if bool(expected) and with_ici:
        return [f"systemic_therapy.preferred contains checkpoint-inhibitor regimens {with_ici}"]
    if not expected and not with_ici:
        return ["systemic_therapy.preferred contains no checkpoint-inhibitor regimen"]
    return []


CHECKS: dict[str, Check] = {
    "imdc_group": _equals(("imdc", "risk_group")),
    "imdc_possible": _same_set(("imdc", "possible_groups")),
    "imdc_status": _factor_status("imdc"),
    "mskcc_group": _equals(("mskcc", "risk_group")),
    "mskcc_possible": _same_set(("mskcc", "possible_groups")),
    "mskcc_status": _factor_status("mskcc"),
    "line": _equals(("systemic_therapy", "line")),
    "pref_has": _contains(_preferred, "systemic_therapy.preferred", present=True),
    "pref_lacks": _contains(_preferred, "systemic_therapy.preferred", present=False),
    "pref_lacks_ici": _pref_lacks_ici,
    "any_has": _contains(_any_category, "preferred/other/certain_circumstances", present=True),
    "any_lacks": _contains(_any_category, "preferred/other/certain_circumstances", present=False),
    "excluded_has": _contains(_excluded, "systemic_therapy.excluded", present=True),
    "excluded_lacks": _contains(_excluded, "systemic_therapy.excluded", present=False),
    "disagreement_has": _disagreement_has,
    "positions": _positions,
    "category": _category,
    "guideline_view": _equals(("systemic_therapy", "guideline_view")),
    "moved_has": _contains(_moved, "options moved up", present=True),
    "no_preferred": _no_preferred,
    "no_preferred_next_has": _contains(_no_preferred_steps, "no_preferred.next_steps", True),
    "cn": _equals(("cytoreductive_nephrectomy", "recommendation")),
    "mets": _equals(("metastasectomy", "recommendation")),
    "adjuvant": _equals(("metastasectomy", "adjuvant_pembrolizumab", "recommendation")),
    "local_has": _contains(_local_ids, "local_therapy ids", present=True),
    "local_lacks": _contains(_local_ids, "local_therapy ids", present=False),
    "surveillance": _equals(("active_surveillance", "recommendation")),
    "trial": _equals(("clinical_trial", "recommendation")),
    "genetics": _equals(("genetics", "recommendation")),
    "warn_has": _contains(_warning_codes, "warning codes", present=True),
    "warn_lacks": _contains(_warning_codes, "warning codes", present=False),
    "rules_cited": _rules_cited,
    "rules_absent": _rules_absent,
    "cautions_text_has": _texts_have("option", _caution_texts),
    "excluded_text_has": _texts_have("excluded option", _excluded_texts),
    "local_text_has": _texts_have("local measure", _local_texts),
    "decision_text_has": _texts_have("decision", _decision_texts),
    "systemic_reasons_has": _systemic_reasons(present=True),
    "systemic_reasons_lack": _systemic_reasons(present=False),
    "warn_text_has": _texts_have("warning", _warning_texts),
    "survival_caveat_has": _texts_have("survival of", _survival_caveats),
    "before_treating_has": _before_treating,
}


def _load(path: Path) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), f"{path.name}: not a mapping"
    expected = document.pop("expected")
    xfail_reason = document.pop("xfail_reason", None)
    if True in expected:  # an unquoted YAML 1.1 `on:` key reads as boolean true
        raise AssertionError(f'{path.name}: quote the assessment-date key as "on"')
    return document, expected, xfail_reason


def _params() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        _, _, xfail_reason = _load(path)
        marks = [pytest.mark.xfail(strict=True, reason=xfail_reason)] if xfail_reason else []
        params.append(pytest.param(path, id=path.stem, marks=marks))
    return params


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return default_knowledge_base()


def test_there_are_enough_vignettes() -> None:
    assert len(list(CASES.glob("*.yaml"))) >= 45


@pytest.mark.parametrize("path", _params())
def test_vignette(path: Path, kb: KnowledgeBase) -> None:
    case_data, expected, _ = _load(path)
    keys = set(expected) - {"guideline"}
    assert keys == {"on", "why", "expect"}, f"{path.name}: expected keys {set(expected)}"
    unknown_keys = set(expected["expect"]) - set(CHECKS)
    assert not unknown_keys, f"{path.name}: unknown expect keys {sorted(unknown_keys)}"
    on = expected["on"]
    assert isinstance(on, dt.date), f"{path.name}: 'on' must be a date, got {on!r}"

    case = Case.model_validate(case_data)
    assessment = rccnav.assess(case, kb, on, guideline=expected.get("guideline", "all"))
    result: Result = orjson.loads(orjson.dumps(assessment))

    problems = [
        problem
        for key, value in expected["expect"].items()
        for problem in CHECKS[key](result, value, kb)
    ]
    why = " ".join(str(expected["why"]).split())
    assert not problems, f"{path.name} (on {on}): " + "; ".join(problems) + f"\n  why: {why}"
