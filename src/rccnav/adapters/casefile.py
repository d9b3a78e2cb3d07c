"""Read the project's own case file (JSON or YAML) into a :class:`Case`.

Every rejection is an :class:`InputError` whose message names the field path and the
problem, with a line number where the file's text allows one, so a clinician can fix
the file without reading Python.

YAML is read with YAML 1.2 core-schema scalars rather than PyYAML's YAML 1.1 defaults:
under 1.1 ``no``/``yes``/``on``/``off`` become booleans, ``0123`` becomes octal and
``1:30`` becomes 90, all of which silently corrupt clinical data.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import Any, Union, get_args, get_origin

import orjson
import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from rccnav.adapters.errors import InputError
from rccnav.adapters.limits import MAX_DEPTH, MAX_DIGITS, check_case_file_size, check_values
from rccnav.core.case import Case

Path = tuple[str | int, ...]

_TYPE_NAMES = {
    "list": "a list",
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "true/false",
    "NoneType": "nothing",
    "date": "a date",
}

# Dates that may legitimately lie after today: they describe plans, not observations.
_FUTURE_ALLOWED = frozenset({"assessment_date", "planned_start"})


# --------------------------------------------------------------------------- YAML


class _CaseLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema scalars and no duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        """No aliases (an alias bomb expands a few hundred bytes into gigabytes) and
        bounded nesting (the composer recurses once per level)."""
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                "YAML aliases (*name) are not accepted in a case file; write the value out",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                deeper = self.peek_event()  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", deeper.start_mark
                )
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> date | datetime:
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is not a valid date: {exc}", node.start_mark
            ) from exc


def _core_schema_resolvers() -> dict[Any, list[tuple[str, re.Pattern[str]]]]:
    replaced = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"}
    resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag not in replaced]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    core = (
        ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        (
            "tag:yaml.org,2002:float",
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            "-+.0123456789",
        ),
    )
    for tag, pattern, firsts in core:
        compiled = re.compile(pattern)
        for first in firsts:
            resolvers.setdefault(first, []).append((tag, compiled))
    return resolvers


def _construct_core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if len(text.lstrip("+-")) > MAX_DIGITS:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"a number of {len(text)} digits is not a clinical value",
            node.start_mark,
        )
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text, 10)


_CaseLoader.yaml_implicit_resolvers = _core_schema_resolvers()
_CaseLoader.add_constructor("tag:yaml.org,2002:int", _construct_core_int)
_CaseLoader.add_constructor("tag:yaml.org,2002:timestamp", _CaseLoader.construct_yaml_timestamp)


def _line_col(mark: yaml.Mark | None) -> str:
    return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown line"


def _yaml_problem(exc: yaml.YAMLError, name: str) -> InputError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "another document" in problem:
            problem = "a second YAML document starts here ('---'); a case file holds one"
        return InputError(f"not valid YAML at {_line_col(mark)}: {problem}", where=name)
    return InputError(f"not valid YAML: {exc}", where=name)


def _compose_node(text: str) -> yaml.Node | None:
    # The loader's constructor already reads the stream (and rejects control
    # characters), so it must sit inside the caller's ``except``.
    loader = _CaseLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def _compose(text: str, name: str) -> yaml.Node | None:
    try:
        return _compose_node(text)
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, name) from exc


def _construct(node: yaml.Node, name: str) -> Any:
    loader = _CaseLoader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_problem(exc, name) from exc
    finally:
        loader.dispose()


def _positions(node: yaml.Node, path: Path = ()) -> Iterator[tuple[Path, int]]:
    """Each key or list item's path with its 1-based line number."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*path, str(key_node.value))
            yield child, key_node.start_mark.line + 1
            yield from _positions(value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            yield child, item.start_mark.line + 1
            yield from _positions(item, child)


# ------------------------------------------------------------------ documents


class Document:
    """A parsed document: its data and, once known, where each field sits in the text.

    ``lines`` is None for JSON until :func:`locate_json` runs: a FHIR Bundle of many
    megabytes is handed on without ever paying for a YAML compose.
    """

    def __init__(self, data: Any, kind: str, text: str, lines: Mapping[Path, int] | None) -> None:
        self.data = data
        self.kind = kind
        self.text = text
        self.lines = lines

    def line_of(self, path: Path) -> int | None:
        for end in range(len(path), 0, -1):
            line = (self.lines or {}).get(path[:end])
            if line is not None:
                return line
        return None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def iso_date(text: str) -> date:
    """A calendar date written exactly ``YYYY-MM-DD``; anything else is a ValueError.

    ``date.fromisoformat`` also takes ``20261101`` and week dates, and pydantic's lax mode
    takes ``0`` (1970-01-01): neither is what a clinician means.
    """
    if not _ISO_DATE.fullmatch(text):
        raise ValueError(f"{text!r} is not a date written YYYY-MM-DD")
    return date.fromisoformat(text)


def decode_text(raw: bytes, name: str) -> str:
    if not raw.strip():
        raise InputError("the file is empty", where=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte {exc.start}): expected a JSON or YAML case file", where=name
        ) from exc


def looks_like_json(text: str, name: str) -> bool:
    return name.lower().endswith((".json", ".ndjson")) or text.lstrip()[:1] in ("{", "[")


def json_problem(exc: orjson.JSONDecodeError, name: str) -> InputError:
    problem = exc.msg
    if "depth limit" in problem:
        problem = "nested too deeply (more than 1024 levels)"
    elif "infinity" in problem:
        problem = "a number too large to be a clinical value"
    return InputError(
        f"not valid JSON at line {exc.lineno}, column {exc.colno}: {problem}", where=name
    )


def parse_yaml(text: str, name: str) -> Document:
    check_case_file_size(text, name)
    node = _compose(text, name)
    if node is None:
        raise InputError("the file contains no data (only comments or blank lines)", where=name)
    return Document(_construct(node, name), "yaml", text, dict(_positions(node)))


def locate_json(document: Document, name: str) -> None:
    """Add line numbers to a JSON case file and reject duplicate keys.

    orjson keeps no positions and silently keeps the last of two duplicate keys, so
    the (small) case file is also composed as YAML, a superset of JSON; if that fails
    on some exotic JSON, line numbers are simply left out.
    """
    try:
        node = _compose_node(document.text)
    except yaml.composer.ComposerError as exc:
        raise _yaml_problem(exc, name) from exc  # too deep: say so, do not carry on
    except yaml.YAMLError:
        node = None
    if node is not None:
        _check_duplicates(node, name)
    document.lines = dict(_positions(node)) if node is not None else {}


def _check_duplicates(node: yaml.Node, name: str, path: Path = ()) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, yaml.Mark] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                raise InputError(
                    f"{_dotted((*path, key))}: duplicate key at {_line_col(key_node.start_mark)} "
                    f"(first at {_line_col(seen[key])})",
                    where=name,
                )
            seen[key] = key_node.start_mark
            _check_duplicates(value_node, name, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicates(item, name, (*path, index))


# ----------------------------------------------------------------- validation


def _dotted(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "case"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``X | None`` or ``tuple[X, ...]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, types.UnionType, tuple):
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _model_at(path: Path) -> type[BaseModel] | None:
    model: type[BaseModel] | None = Case
    for part in path:
        if model is None:
            return None
        if isinstance(part, int):
            continue  # a list index: the element model is already selected
        field = model.model_fields.get(part)
        model = _model_in(field.annotation) if field is not None else None
    return model


def _unknown_field(path: Path) -> str:
    model = _model_at(path[:-1])
    name = str(path[-1])
    if model is None:
        return "unknown field"
    known = list(model.model_fields)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown field {name!r}{hint} (allowed: {', '.join(known)})"


def _shown_input(error: ErrorDetails) -> str:
    value = error.get("input")
    # case_id is free text: never echo it, in case someone put a name there.
    if "case_id" in error["loc"]:
        return ""
    short = isinstance(value, bool | int | float | date) or (
        isinstance(value, str) and len(value) <= 40
    )
    return f" (got {value!r})" if short else ""


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    loc: Path = tuple(error["loc"])
    if kind == "extra_forbidden":
        return _unknown_field(loc)
    if kind == "missing":
        return "field required"
    message = error["msg"]
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false" + _shown_input(error)
    if kind.startswith("date_") and kind != "date_future":
        return "must be a date written YYYY-MM-DD" + _shown_input(error)
    if kind == "value_error":
        return _sentence_case(message.removeprefix("Value error, "))
    return _sentence_case(message) + _shown_input(error)


def _sentence_case(message: str) -> str:
    """Lower-case the first letter of pydantic's message unless it starts an acronym."""
    if message[1:2].isupper():
        return message
    return message[:1].lower() + message[1:]


def validation_message(exc: ValidationError, document: Document, name: str) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        path: Path = tuple(error["loc"])
        line = document.line_of(path)
        at = f" (line {line})" if line is not None else ""
        lines.append(f"  {_dotted(path)}{at}: {_describe(error)}")
    count = len(lines)
    header = f"{name}: not a valid case file ({count} problem{'s' if count != 1 else ''}):"
    return "\n".join([header, *lines])


def _dates(value: Any, path: Path) -> Iterator[tuple[Path, date]]:
    if isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from _dates(getattr(value, field), (*path, field))
    elif isinstance(value, tuple):
        for index, item in enumerate(value):
            yield from _dates(item, (*path, index))
    elif isinstance(value, date):
        yield path, value


def future_dates(case: Case, today: date) -> list[tuple[Path, date]]:
    return [
        (path, day)
        for path, day in _dates(case, ())
        if day > today and not _FUTURE_ALLOWED.intersection(p for p in path if isinstance(p, str))
    ]


def case_from_document(document: Document, name: str, today: date | None = None) -> Case:
    data = document.data
    if not isinstance(data, dict):
        kind = _TYPE_NAMES.get(type(data).__name__, type(data).__name__)
        raise InputError(
            f"the top level must be a mapping of case fields (case_id, diagnosis, labs, ...), "
            f"got {kind}",
            where=name,
        )
    check_case_file_size(document.text, name)
    check_values(data, name)
    if document.lines is None:
        locate_json(document, name)
    try:
        # Strict, as JSON: a date is an ISO YYYY-MM-DD date (never a number of seconds),
        # true/false are the only booleans ("yes", "no", 0 and 1 are refused), numbers
        # are numbers (never text). A YAML date reaches pydantic as its ISO text.
        case = Case.model_validate_json(orjson.dumps(data), strict=True)
    except ValidationError as exc:
        raise InputError(validation_message(exc, document, name)) from exc
    problems = future_dates(case, today or date.today())
    if problems:
        details = []
        for path, day in problems:
            line = document.line_of(path)
            at = f" (line {line})" if line is not None else ""
            details.append(f"  {_dotted(path)}{at}: {day} is after today")
        header = f"{name}: dates in the future (today is {today or date.today()}); a typo?"
        raise InputError("\n".join([header, *details]))
    return case


def read_document(text: str, name: str) -> Document:
    """Parse a case file's text as JSON or YAML (no schema check yet)."""
    if not looks_like_json(text, name):
        return parse_yaml(text, name)
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        json_error = json_problem(exc, name)
        too_deep = "depth limit" in exc.msg
    else:
        return Document(data, "json", text, None)
    if name.lower().endswith(".json") or too_deep:
        raise json_error  # nesting past 1024 levels is refused as YAML too: skip the rescan
    # A YAML flow mapping also starts with "{": give YAML its chance, but if it fails
    # too, the JSON message is the one that fits what the author meant to write.
    try:
        return parse_yaml(text, name)
    except InputError:
        raise json_error from None


def read_case_file(raw: bytes, *, name: str = "<input>", today: date | None = None) -> Case:
    """Parse and validate a case file; raise :class:`InputError` if it is unusable."""
    return case_from_document(read_document(decode_text(raw, name), name), name, today)
