"""NCCN, EAU and ESMO side by side: derive each guideline's view from the positions table.

``guideline_positions.yaml`` records, per setting (a therapy-table row) and option, what each
guideline says. At load time this module resolves defaults and sources, words each position
for clinicians, states where the guidelines disagree, and builds the therapy tables as each
view lists them, so ``assess()`` only looks things up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from rccnav.knowledge.model import (
    GUIDELINE_BODIES,
    LISTING_LABEL,
    GuidelineBody,
    KnowledgeBase,
    OptionPositions,
    PositionEntry,
    ResolvedPosition,
    SettingPositions,
    TableCategory,
    TherapyTable,
)

_CATEGORY_FIELDS: dict[TableCategory, str] = {
    "preferred": "preferred",
    "other": "other",
    "certain-circumstances": "certain_circumstances",
}


def position_text(entry: PositionEntry) -> str:
    """e.g. 'other recommended (category 2B)', 'recommended (weak) when ...'."""
    text = LISTING_LABEL[entry.listing]
    if entry.strength:
        text += f" ({entry.strength})"
    if entry.condition:
        text += f" {entry.condition}"
    if entry.note:
        text += f" ({entry.note})"
    return text


def _resolve_one(
    body: GuidelineBody, entry: PositionEntry, setting: SettingPositions, kb: KnowledgeBase
) -> ResolvedPosition:
    source = next(b.source for b in kb.guideline_positions.bodies if b.id == body)
    return ResolvedPosition(
        body=body,
        listing=entry.listing,
        strength=entry.strength,
        condition=entry.condition,
        note=entry.note,
        text=position_text(entry),
        sources=tuple(dict.fromkeys((source, *entry.sources))),
        status=entry.status or setting.status,
    )


def _entries(setting: SettingPositions, option: OptionPositions) -> dict[str, PositionEntry]:
    entries: dict[str, PositionEntry] = {}
    for body in GUIDELINE_BODIES:
        entry: PositionEntry | None = getattr(option, body)
        if entry is None and body in setting.default:
            entry = PositionEntry(listing=setting.default[body])
        if entry is not None:
            entries[body] = entry
    return entries


def resolve(kb: KnowledgeBase) -> dict[str, dict[str, tuple[ResolvedPosition, ...]]]:
    """table id -> option -> positions in guideline order (NCCN, EAU, ESMO)."""
    index: dict[str, dict[str, tuple[ResolvedPosition, ...]]] = {}
    for setting in kb.guideline_positions.settings:
        table = index.setdefault(setting.setting, {})
        for option_id, option in setting.options.items():
            table[option_id] = tuple(
                _resolve_one(body, entry, setting, kb)  # type: ignore[arg-type]
                for body, entry in _entries(setting, option).items()
            )
        for option_id in _table_options(kb, setting.setting):
            if option_id not in table and setting.default:
                table[option_id] = tuple(
                    _resolve_one(body, PositionEntry(listing=listing), setting, kb)
                    for body, listing in setting.default.items()
                )
    return index


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def disagreement(positions: Iterable[ResolvedPosition], kb: KnowledgeBase) -> str | None:
    """Plain-language statement when recorded positions differ; None when they agree."""
    known = [p for p in positions if p.listing != "not-recorded"]
    if len({p.category for p in known}) < 2:
        return None
    listing = [p for p in known if p.category is not None]
    against = [p for p in known if p.listing == "not-recommended"]
    silent = [p for p in known if p.listing == "not-addressed"]
    detail = "; ".join(f"{kb.guideline_name(p.body)}: {p.text}" for p in known)
    if not against and not silent:
        return f"The guidelines rank it differently. {detail}."
    parts = [
        f"{_join([kb.guideline_name(p.body) for p in listing])} "
        f"list{'s' if len(listing) == 1 else ''} it"
    ]
    if against:
        names = _join([kb.guideline_name(p.body) for p in against])
        parts.append(f"{names} {'does' if len(against) == 1 else 'do'} not recommend it here")
    if silent:
        names = _join([kb.guideline_name(p.body) for p in silent])
        parts.append(f"{names} {'does' if len(silent) == 1 else 'do'} not list it here")
    return "The guidelines disagree: " + "; ".join(parts) + f". {detail}."


def _table_options(kb: KnowledgeBase, table_id: str) -> tuple[str, ...]:
    for table in kb.therapy_tables:
        if table.id == table_id:
            return (*table.preferred, *table.other, *table.certain_circumstances)
    return ()


def _table_category(table: TherapyTable, option_id: str) -> TableCategory | None:
    for category, field in _CATEGORY_FIELDS.items():
        if option_id in getattr(table, field):
            return category
    return None


def _merged_category(
    table: TherapyTable, option_id: str, kb: KnowledgeBase
) -> TableCategory | None:
    listed = _table_category(table, option_id)
    if listed is not None:
        return listed
    setting = _setting(kb, table.id)
    option = setting.options.get(option_id) if setting else None
    return option.merged.category if option and option.merged else None


def _setting(kb: KnowledgeBase, table_id: str) -> SettingPositions | None:
    return next((s for s in kb.guideline_positions.settings if s.setting == table_id), None)


def _view_category(
    view: str,
    table: TherapyTable,
    option_id: str,
    positions: Mapping[str, tuple[ResolvedPosition, ...]],
    kb: KnowledgeBase,
) -> TableCategory | None:
    merged = _merged_category(table, option_id, kb)
    if view == "all":
        return merged
    own = next((p for p in positions.get(option_id, ()) if p.body == view), None)
    if own is None or own.listing == "not-recorded":
        return merged  # unknown: shown as the merged table shows it, never dropped
    return own.category


def view_tables(
    kb: KnowledgeBase, index: Mapping[str, Mapping[str, tuple[ResolvedPosition, ...]]]
) -> tuple[dict[str, tuple[TherapyTable, ...]], dict[str, dict[str, tuple[str, ...]]]]:
    """The therapy tables as each view lists them, and what each view leaves unlisted."""
    tables: dict[str, tuple[TherapyTable, ...]] = {}
    unlisted: dict[str, dict[str, tuple[str, ...]]] = {}
    for view in ("all", *GUIDELINE_BODIES):
        rows: list[TherapyTable] = []
        unlisted[view] = {}
        for table in kb.therapy_tables:
            positions = index.get(table.id, {})
            options = list(dict.fromkeys((*_table_options(kb, table.id), *positions)))
            lists: dict[TableCategory, list[str]] = {c: [] for c in _CATEGORY_FIELDS}
            left_out: list[str] = []
            for option_id in options:
                category = _view_category(view, table, option_id, positions, kb)
                if category is None:
                    left_out.append(option_id)
                else:
                    lists[category].append(option_id)
            update: dict[str, Any] = {
                field: tuple(lists[category]) for category, field in _CATEGORY_FIELDS.items()
            }
            rows.append(table.model_copy(update=update))
            if left_out:
                unlisted[view][table.id] = tuple(left_out)
        tables[view] = tuple(rows)
    return tables, unlisted


def disagreements(
    index: Mapping[str, Mapping[str, tuple[ResolvedPosition, ...]]], kb: KnowledgeBase
) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for table_id, options in index.items():
        for option_id, positions in options.items():
            statement = disagreement(positions, kb)
            if statement:
                out.setdefault(table_id, {})[option_id] = statement
    return out


def integrity_problems(kb: KnowledgeBase) -> list[str]:
    """Every setting is a therapy table, every option exists, every guideline is stated."""
    table = kb.guideline_positions
    problems: list[str] = []
    if not table.version:
        problems.append("guideline_positions.version is empty")
    bodies = {b.id for b in table.bodies}
    if bodies != set(GUIDELINE_BODIES):
        problems.append(f"guideline_positions.bodies must be {sorted(GUIDELINE_BODIES)}")
    for body in table.bodies:
        if body.source not in kb.sources:
            problems.append(f"guideline {body.id} cites unknown source {body.source!r}")
    table_ids = {t.id for t in kb.therapy_tables}
    options = kb.option_ids()
    seen: set[str] = set()
    for setting in table.settings:
        where = f"guideline positions for {setting.setting}"
        if setting.setting not in table_ids:
            problems.append(f"{where}: no therapy table has this id")
            continue
        if setting.setting in seen:
            problems.append(f"{where}: setting given twice")
        seen.add(setting.setting)
        listed = set(_table_options(kb, setting.setting))
        for option_id in listed - set(setting.options):
            if set(setting.default) != set(GUIDELINE_BODIES):
                problems.append(f"{where}: no positions for {option_id!r}")
        for option_id, option in setting.options.items():
            problems.extend(
                _option_problems(kb, where, option_id, option, setting, listed, options)
            )
    for table_id in sorted(table_ids - seen):
        problems.append(f"therapy table {table_id} has no guideline positions")
    return problems


def _option_problems(
    kb: KnowledgeBase,
    where: str,
    option_id: str,
    option: OptionPositions,
    setting: SettingPositions,
    listed: set[str],
    options: set[str],
) -> list[str]:
    problems: list[str] = []
    if option_id not in options:
        problems.append(f"{where}: unknown option {option_id!r}")
    entries = _entries(setting, option)
    missing = [b for b in GUIDELINE_BODIES if b not in entries]
    if missing:
        problems.append(f"{where}: {option_id} has no position for {', '.join(missing)}")
    if option_id in listed and option.merged is not None:
        problems.append(f"{where}: {option_id} is in the therapy table; remove 'merged'")
    lists_it = any(
        e.listing not in ("not-recommended", "not-addressed", "not-recorded")
        for e in entries.values()
    )
    if option_id not in listed and option.merged is None and lists_it:
        problems.append(
            f"{where}: {option_id} is listed by a guideline but not by the therapy table; "
            "say where the merged view shows it ('merged')"
        )
    for entry in entries.values():
        for source_id in entry.sources:
            if source_id not in kb.sources:
                problems.append(f"{where}: {option_id} cites unknown source {source_id!r}")
    if option.merged is not None:
        for source_id in option.merged.sources:
            if source_id not in kb.sources:
                problems.append(f"{where}: {option_id} cites unknown source {source_id!r}")
    return problems
