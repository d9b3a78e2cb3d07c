"""Load, validate and fingerprint the knowledge base YAML files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from rccnav.knowledge import guideline_positions
from rccnav.knowledge.compiled_cache import cached
from rccnav.knowledge.model import KnowledgeBase

KB_FILES = (
    "meta.yaml",
    "sources.yaml",
    "agents.yaml",
    "regimens.yaml",
    "therapy_tables.yaml",
    "rules.yaml",
    "safety.yaml",
    "prognosis.yaml",
    "monitoring.yaml",
    "guideline_positions.yaml",
)


# libyaml parses the knowledge base about nine times faster than the pure-Python loader
# (183 -> 20 ms); both are safe loaders, so the content is identical.
FAST_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class KnowledgeBaseError(ValueError):
    """The knowledge base files are malformed or refer to something that does not exist."""


def default_data_dir() -> Path:
    return Path(str(resources.files("rccnav.knowledge") / "data"))


def _read_bytes(data_dir: Path) -> tuple[dict[str, bytes], str]:
    digest = hashlib.sha256()
    files: dict[str, bytes] = {}
    for name in KB_FILES:
        path = data_dir / name
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            raise KnowledgeBaseError(f"knowledge base file missing: {path}") from exc
        digest.update(name.encode() + b"\0" + raw + b"\0")
        files[name] = raw
    return files, digest.hexdigest()


def _parse(files: Mapping[str, bytes]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name, raw in files.items():
        try:
            content = yaml.load(raw, Loader=FAST_SAFE_LOADER) or {}
        except yaml.YAMLError as exc:
            raise KnowledgeBaseError(f"{name}: not valid YAML: {exc}") from exc
        if not isinstance(content, dict):
            raise KnowledgeBaseError(f"{name}: top level must be a mapping")
        clash = set(merged) & set(content)
        if clash:
            raise KnowledgeBaseError(f"{name}: section(s) defined twice: {sorted(clash)}")
        merged.update(content)
    return merged


def _read(data_dir: Path) -> tuple[dict[str, Any], str]:
    files, checksum = _read_bytes(data_dir)
    return _parse(files), checksum


def _by_id(items: Iterable[Mapping[str, Any]], section: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        item_id = item.get("id")
        if not isinstance(item_id, str):
            raise KnowledgeBaseError(f"{section}: an entry has no string id: {item!r}")
        if item_id in out:
            raise KnowledgeBaseError(f"{section}: duplicate id {item_id!r}")
        out[item_id] = item
    return out


def _alias_index(agents: Mapping[str, Any]) -> dict[str, str]:
    index: dict[str, str] = {}
    for agent_id, agent in agents.items():
        for name in (agent_id, agent["name"], *agent.get("aliases", ())):
            key = str(name).strip().lower().replace(" ", "-")
            if index.get(key, agent_id) != agent_id:
                raise KnowledgeBaseError(f"agents: name {name!r} maps to two agents")
            index[key] = agent_id
    return index


def build(data: dict[str, Any], checksum: str) -> KnowledgeBase:
    meta = data.get("meta") or {}
    agents = _by_id(data.get("agents", ()), "agents")
    try:
        kb = KnowledgeBase(
            version=str(meta.get("version", "")),
            checksum=checksum,
            sources=_by_id(data.get("sources", ()), "sources"),
            agents=agents,
            regimens=_by_id(data.get("regimens", ()), "regimens"),
            non_drug_options=_by_id(data.get("non_drug_options", ()), "non_drug_options"),
            therapy_tables=tuple(data.get("therapy_tables", ())),
            rules=_by_id(data.get("rules", ()), "rules"),
            contraindications=tuple(data.get("contraindications", ())),
            therapy_categories=tuple(data.get("therapy_categories", ())),
            nonstandard_combinations=tuple(data.get("nonstandard_combinations", ())),
            analytes=_by_id(data.get("analytes", ()), "analytes"),
            default_limits=tuple(data.get("default_limits", ())),
            survival=tuple(data.get("survival", ())),
            monitoring=tuple(data.get("monitoring", ())),
            guideline_positions=data.get("guideline_positions") or {},
            alias_index=_alias_index(agents),
        )
    except ValidationError as exc:
        raise KnowledgeBaseError(f"knowledge base does not match its schema:\n{exc}") from exc
    problems = integrity_problems(kb)
    if problems:
        raise KnowledgeBaseError("knowledge base integrity:\n- " + "\n- ".join(problems))
    return kb.model_copy(update=_indexes(kb))


def _indexes(kb: KnowledgeBase) -> dict[str, Any]:
    """Look-ups derived once from validated content so assess() does no scanning."""
    classes = {
        regimen.id: frozenset(kb.agents[a].agent_class for a in regimen.agents)
        for regimen in kb.regimens.values()
    }
    affected = {
        rule.id: frozenset(
            regimen.id
            for regimen in kb.regimens.values()
            if any(
                a in rule.agents or kb.agents[a].agent_class in rule.agent_classes
                for a in regimen.agents
            )
        )
        for rule in kb.contraindications
    }
    positions = guideline_positions.resolve(kb)
    tables, unlisted = guideline_positions.view_tables(kb, positions)
    numbers = {
        rule.id: {
            name: float(value)
            for name, value in rule.parameters.items()
            if isinstance(value, int | float) and not isinstance(value, bool)
        }
        for rule in kb.rules.values()
    }
    return {
        "regimen_class_index": classes,
        "contraindication_index": affected,
        "position_index": positions,
        "disagreement_index": guideline_positions.disagreements(positions, kb),
        "view_tables": tables,
        "unlisted_index": unlisted,
        "numbers": numbers,
    }


def integrity_problems(kb: KnowledgeBase) -> list[str]:
    """Every reference resolves; every regimen id follows the naming contract."""
    problems: list[str] = []
    if not kb.version:
        problems.append("meta.version is empty")

    def cite(owner: str, sources: Iterable[str]) -> None:
        for source_id in sources:
            if source_id not in kb.sources:
                problems.append(f"{owner} cites unknown source {source_id!r}")

    for agent in kb.agents.values():
        cite(f"agent {agent.id}", agent.sources)
    for regimen in kb.regimens.values():
        cite(f"regimen {regimen.id}", regimen.sources)
        for agent_id in regimen.agents:
            if agent_id not in kb.agents:
                problems.append(f"regimen {regimen.id} uses unknown agent {agent_id!r}")
        if regimen.id != "+".join(sorted(regimen.agents)):
            problems.append(f"regimen id {regimen.id!r} is not its agents sorted and joined by '+'")
    options = kb.option_ids()
    for option in kb.non_drug_options.values():
        cite(f"option {option.id}", option.sources)
    for table in kb.therapy_tables:
        cite(f"therapy table {table.id}", table.sources)
        for option_id in (*table.preferred, *table.other, *table.certain_circumstances):
            if option_id not in options:
                problems.append(f"therapy table {table.id} lists unknown option {option_id!r}")
        for tier in table.fallback:
            # A fallback option the table no longer lists is simply never promoted.
            cite(f"therapy table {table.id} fallback", tier.sources)
            for option_id in tier.options:
                if option_id not in options:
                    problems.append(
                        f"therapy table {table.id}: fallback names unknown option {option_id!r}"
                    )
    for rule in kb.rules.values():
        cite(f"rule {rule.id}", rule.sources)
    for item in kb.contraindications:
        cite(f"contraindication {item.id}", item.sources)
        for agent_id in item.agents:
            if agent_id not in kb.agents:
                problems.append(f"contraindication {item.id} names unknown agent {agent_id!r}")
    for category in kb.therapy_categories:
        cite(f"therapy category {category.id}", category.sources)
        for agent_id in category.agents:
            if agent_id not in kb.agents:
                problems.append(f"therapy category {category.id} names unknown agent {agent_id!r}")
    for combo in kb.nonstandard_combinations:
        cite(f"nonstandard combination {combo.id}", combo.sources)
        for agent_id in combo.agents:
            if agent_id not in kb.agents:
                problems.append(
                    f"nonstandard combination {combo.id} names unknown agent {agent_id!r}"
                )
        for regimen_id in combo.likely_meant:
            if regimen_id not in kb.regimens:
                problems.append(
                    f"nonstandard combination {combo.id} suggests unknown {regimen_id!r}"
                )
    for limit in kb.default_limits:
        cite(f"default limit {limit.analyte}", limit.sources)
        if limit.analyte not in kb.analytes:
            problems.append(f"default limit for unknown analyte {limit.analyte!r}")
        if limit.low > limit.high:
            problems.append(f"default limit {limit.analyte}: low above high")
    for row in kb.survival:
        cite(f"survival {row.model}/{row.setting}/{row.risk_group}", row.sources)
    seen_monitoring: set[str] = set()
    for check in kb.monitoring:
        cite(f"monitoring {check.id}", check.sources)
        if check.id in seen_monitoring:
            problems.append(f"monitoring: duplicate id {check.id!r}")
        seen_monitoring.add(check.id)
        for agent_id in check.agents:
            if agent_id not in kb.agents:
                problems.append(f"monitoring {check.id} names unknown agent {agent_id!r}")
    problems.extend(guideline_positions.integrity_problems(kb))
    listed = {
        o for t in kb.therapy_tables for o in (*t.preferred, *t.other, *t.certain_circumstances)
    }
    for regimen_id in kb.regimens:
        if regimen_id not in listed and not _suggested(kb, regimen_id):
            problems.append(f"regimen {regimen_id} is an orphan: no table lists it")
    return problems


def _suggested(kb: KnowledgeBase, regimen_id: str) -> bool:
    return any(regimen_id in c.likely_meant for c in kb.nonstandard_combinations)


def load_knowledge_base(data_dir: Path | None = None) -> KnowledgeBase:
    """Read, validate and index the YAML (or reuse the compiled copy of the same bytes)."""
    files, checksum = _read_bytes(data_dir or default_data_dir())
    return cached("knowledge-base", checksum, lambda: build(_parse(files), checksum), KnowledgeBase)


@lru_cache(maxsize=1)
def default_knowledge_base() -> KnowledgeBase:
    """The bundled knowledge base, loaded once per process."""
    return load_knowledge_base()
