"""The clinician form, derived from the case file's JSON Schema.

The form is not written by hand: every field of :class:`~rccnav.core.case.Case`
becomes a control here, so a field another change adds to the Case appears on the
page without touching a template. Only *grouping and wording* are chosen here
(the order a clinician fills a chart in); nothing clinical is decided.

The browser sends the form as a flat map of dotted paths (``labs.hemoglobin.value``,
``disease.metastases.2.site``) to strings; :func:`form_to_case` rebuilds the nested
case document and validates it with the Case model itself, so the page rejects
exactly what a case file would, and each problem is reported at its form field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from rccnav.adapters.casefile import future_dates
from rccnav.core.case import Case

INDEX = "__i__"  # placeholder for a list position in a repeated group's template

Kind = Literal[
    "text",
    "number",
    "integer",
    "date",
    "boolean",
    "choice",
    "choices",
    "list",
    "provenance",
    "mapping",
]
FormValue = str | list[str]

# Top-level Case fields, grouped as a clinician reads a chart. A field not named here
# (added to the Case later) still appears, in the last group.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("patient", "Patient and assessment", ("assessment_date", "case_id", "sex", "birth_date")),
    ("disease", "Disease and histology", ("diagnosis", "primary_tumour")),
    ("performance", "Performance status and vital signs", ("performance", "vitals")),
    ("labs", "Laboratory results", ("labs",)),
    ("metastases", "Metastatic disease", ("disease",)),
    ("therapy", "Prior and proposed therapy", ("prior_therapies", "proposed_therapy")),
    ("comorbidities", "Comorbidities and contraindications", ("comorbidities",)),
    ("genetics", "Genetics", ("germline",)),
)
OTHER_SECTION = ("other", "Other case items")

# Clinic words where the field name alone reads badly; everything else is the
# field name with spaces.
LABELS = {
    "assessment_date": "Assessment date",
    "case_id": "Case reference (never a patient identifier)",
    "kps": "Karnofsky (KPS)",
    "ecog": "ECOG",
    "ldh": "LDH",
    "ast": "AST",
    "alt": "ALT",
    "egfr_method": "eGFR equation",
    "oxygen_saturation": "Oxygen saturation (SpO2)",
    "egfr": "eGFR",
    "hemoglobin": "Hemoglobin",
    "calcium_total": "Calcium, total",
    "calcium_corrected": "Calcium, albumin-corrected",
    "calcium_ionized": "Calcium, ionized",
    "neutrophils": "Absolute neutrophil count",
    "platelets": "Platelet count",
    "low": "Lab's lower limit",
    "high": "Lab's upper limit",
    "unit": "Unit (UCUM)",
    "date": "Date",
    "diagnosis": "Diagnosis",
    "primary_tumour": "Primary tumour",
    "performance": "Performance status",
    "disease": "Metastatic disease",
    "metastases": "Metastatic sites",
    "prior_therapies": "Prior systemic therapy",
    "proposed_therapy": "Proposed therapy",
    "germline": "Germline testing",
    "agents": "Agents (comma-separated)",
    "qtc_prolongation": "QTc prolongation",
    "gi_perforation_risk": "GI perforation risk",
    "systemic_steroids_over_10mg": "Systemic steroids > 10 mg/day prednisone equivalent",
    "family_history_of_rcc": "Family history of RCC",
    "in_place": "Primary still in place",
    "sarcomatoid": "Sarcomatoid features",
    "source": "Source",
    "sources": "Sources",
}

# Suggested units per lab (conventional and SI); the engine converts any valid UCUM
# unit, these only save typing. A test checks each one converts.
UNIT_SUGGESTIONS = {
    "hemoglobin": ("g/dL", "g/L", "mmol/L"),
    "calcium_total": ("mg/dL", "mmol/L"),
    "calcium_corrected": ("mg/dL", "mmol/L"),
    "calcium_ionized": ("mmol/L", "mg/dL"),
    "albumin": ("g/dL", "g/L"),
    "neutrophils": ("10*9/L", "10*3/uL", "/uL"),
    "platelets": ("10*9/L", "10*3/uL", "/uL"),
    "ldh": ("U/L", "ukat/L"),
    "egfr": ("mL/min/{1.73_m2}", "mL/min"),
    "creatinine": ("mg/dL", "umol/L"),
    "creatinine_clearance": ("mL/min",),
    "bilirubin_total": ("mg/dL", "umol/L"),
    "ast": ("U/L", "ukat/L"),
    "alt": ("U/L", "ukat/L"),
    "weight": ("kg", "[lb_av]"),
    "oxygen_saturation": ("%",),
}


# Hints where the schema's description speaks to a file author rather than a clinician.
HINTS = {
    "assessment_date": "Data dated after it is ignored; time from diagnosis is measured to it",
}


def label_for(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Field:
    path: str
    name: str
    label: str
    kind: Kind
    options: tuple[str, ...] = ()
    default: str | None = None
    hint: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    suggestions: tuple[str, ...] = ()

    @property
    def dom_id(self) -> str:
        return "f-" + self.path.replace(".", "-")


@dataclass(frozen=True)
class Group:
    path: str
    name: str
    label: str
    items: tuple[Item, ...]
    hint: str | None = None
    repeated: bool = False

    @property
    def dom_id(self) -> str:
        return "g-" + (self.path.replace(".", "-") or "case")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    items: tuple[Item, ...]


Item = Field | Group


# ------------------------------------------------------------------ schema walk


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> dict[str, Any]:
    """The schema itself, following ``$ref`` and dropping the ``null`` of ``X | None``."""
    if "$ref" in schema:
        merged = {**defs[schema["$ref"].rsplit("/", 1)[-1]]}
        merged.update({k: v for k, v in schema.items() if k != "$ref"})
        return _resolve(merged, defs)
    variants = [v for v in schema.get("anyOf", ()) if v.get("type") != "null"]
    if len(variants) == 1:
        merged = {**_resolve(variants[0], defs)}
        for key in ("default", "description", "title"):
            if key in schema:
                merged[key] = schema[key]
        return merged
    return dict(schema)


def _kind(name: str, schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Kind:
    if name == "source":
        return "provenance"
    kind = schema.get("type")
    if "enum" in schema:
        return "choice"
    if kind == "array":
        items = _resolve(schema.get("items", {}), defs)
        return "choices" if "enum" in items else "list"
    if kind == "object":
        return "mapping"
    if kind == "string" and schema.get("format") == "date":
        return "date"
    if kind == "number":
        return "number"
    if kind == "integer":
        return "integer"
    if kind == "boolean":
        return "boolean"
    return "text"


def _items(schema: Mapping[str, Any], defs: Mapping[str, Any], prefix: str) -> Iterator[Item]:
    required = set(schema.get("required", ()))
    for name, raw in schema.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        # The field's own description, not its type's docstring (repeated on every lab).
        hint = HINTS.get(name, raw.get("description"))
        yield _item(name, path, _resolve(raw, defs), defs, name in required, hint)


def _is_model(schema: Mapping[str, Any]) -> bool:
    return schema.get("type") == "object" and "properties" in schema


def _item(
    name: str,
    path: str,
    schema: Mapping[str, Any],
    defs: Mapping[str, Any],
    required: bool,
    hint: str | None,
) -> Item:
    hint = hint.replace("`", "") if hint else None
    if _is_model(schema):
        return Group(path, name, label_for(name), tuple(_items(schema, defs, path)), hint)
    if schema.get("type") == "array":
        element = _resolve(schema.get("items", {}), defs)
        if _is_model(element):
            item_path = f"{path}.{INDEX}"
            entry = Group(item_path, name, label_for(name), tuple(_items(element, defs, item_path)))
            return Group(path, name, label_for(name), (entry,), hint, repeated=True)
    kind = _kind(name, schema, defs)
    options: tuple[str, ...] = ()
    if kind == "choice":
        options = tuple(str(v) for v in schema["enum"])
    elif kind == "choices":
        options = tuple(str(v) for v in _resolve(schema["items"], defs)["enum"])
    default = schema.get("default")
    shown_default = str(default) if isinstance(default, str | int | float) else None
    return Field(
        path=path,
        name=name,
        label=label_for(name),
        kind=kind,
        options=options,
        default=shown_default,
        hint=hint,
        minimum=schema.get("minimum"),
        maximum=schema.get("maximum"),
        required=required,
        suggestions=UNIT_SUGGESTIONS.get(path.split(".")[-2], ()) if name == "unit" else (),
    )


@lru_cache(maxsize=1)
def form_sections() -> tuple[Section, ...]:
    """The whole form, section by section, from the Case's JSON Schema."""
    schema = Case.model_json_schema(mode="validation")
    defs = schema.get("$defs", {})
    top = {item.name: item for item in _items(schema, defs, "")}
    sections = []
    for section_id, title, names in SECTIONS:
        items = tuple(top.pop(name) for name in names if name in top)
        if items:
            sections.append(Section(section_id, title, items))
    if top:
        sections.append(Section(OTHER_SECTION[0], OTHER_SECTION[1], tuple(top.values())))
    return tuple(sections)


def _leaves(items: tuple[Item, ...]) -> Iterator[Field]:
    for item in items:
        if isinstance(item, Field):
            yield item
        else:
            yield from _leaves(item.items)


@lru_cache(maxsize=1)
def fields_by_path() -> dict[str, Field]:
    """Every form field by its path pattern (list positions as ``__i__``)."""
    return {f.path: f for s in form_sections() for f in _leaves(s.items)}


# ------------------------------------------------------------- form -> case


@dataclass(frozen=True)
class FieldProblem:
    field: str  # the form path (a field, or a group for a problem with several fields)
    message: str


@dataclass
class FormResult:
    case: Case | None
    problems: list[FieldProblem] = field(default_factory=list)


_POSITION = re.compile(r"^\d{1,4}$")


def _pattern(parts: list[str]) -> str:
    return ".".join(INDEX if _POSITION.match(p) else p for p in parts)


def _convert(spec: Field, value: FormValue) -> Any:
    """The form's text as the case document holds it; pydantic does the typing."""
    if spec.kind == "choices":
        return [v for v in ([value] if isinstance(value, str) else value) if v]
    text = value if isinstance(value, str) else ",".join(value)
    text = text.strip()
    if spec.kind == "list":
        return [part.strip() for part in text.split(",") if part.strip()]
    if spec.kind == "mapping":
        return orjson.loads(text) if text else {}
    return text


def _empty(value: Any) -> bool:
    return value in ("", None) or value == [] or value == {}


def _insert(tree: dict[str, Any], parts: list[str], value: Any) -> None:
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _compact(
    node: Any,
    form_path: str,
    paths: dict[tuple[str | int, ...], str],
    case_path: tuple[str | int, ...],
) -> Any:
    """Turn index-keyed dicts into lists (gaps from removed rows closed), dropping
    groups that hold nothing but provenance; remember each case path's form path."""
    paths[case_path] = form_path
    if not isinstance(node, dict):
        return node
    keys = list(node)
    if keys and all(_POSITION.match(k) for k in keys):
        result: list[Any] = []
        for key in sorted(keys, key=int):
            child = _compact(node[key], f"{form_path}.{key}", paths, (*case_path, len(result)))
            if child is not None:
                result.append(child)
        return result or None
    out: dict[str, Any] = {}
    for key, value in node.items():
        sub = f"{form_path}.{key}" if form_path else key
        child = _compact(value, sub, paths, (*case_path, key))
        if child is not None:
            out[key] = child
    substantive = [k for k in out if k not in ("source", "sources")]
    return out if substantive else None


def form_to_document(
    form: Mapping[str, FormValue],
) -> tuple[dict[str, Any], dict[tuple[str | int, ...], str], list[FieldProblem]]:
    """The nested case document a flat form map describes, and each path's form field."""
    specs = fields_by_path()
    tree: dict[str, Any] = {}
    problems = []
    for key, value in form.items():
        parts = key.split(".")
        spec = specs.get(_pattern(parts))
        if spec is None:
            problems.append(FieldProblem(key, "this page does not know this field; reload it"))
            continue
        try:
            converted = _convert(spec, value)
        except orjson.JSONDecodeError:
            problems.append(FieldProblem(key, "not a valid list of sources"))
            continue
        if not _empty(converted):
            _insert(tree, parts, converted)
    paths: dict[tuple[str | int, ...], str] = {}
    document = _compact(tree, "", paths, ()) or {}
    return document, paths, problems


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "missing":
        return "required when the rest of this item is given"
    return message


def _form_path(loc: tuple[str | int, ...], paths: Mapping[tuple[str | int, ...], str]) -> str:
    for end in range(len(loc), 0, -1):
        found = paths.get(loc[:end])
        if found is not None:
            return found if end == len(loc) else found + "." + ".".join(map(str, loc[end:]))
    return ".".join(map(str, loc))


def form_to_case(form: Mapping[str, FormValue], today: date) -> FormResult:
    """Validate the form as a case; every problem comes back at its form field."""
    document, paths, problems = form_to_document(form)
    if problems:
        return FormResult(None, problems)
    try:
        case = Case.model_validate(document)
    except ValidationError as exc:
        return FormResult(
            None,
            [
                FieldProblem(_form_path(tuple(e["loc"]), paths), _message(e))
                for e in exc.errors(include_url=False)
            ],
        )
    future = [
        FieldProblem(_form_path(path, paths), f"{day} is after today ({today}); a typo?")
        for path, day in future_dates(case, today)
    ]
    return FormResult(None if future else case, future)


# ------------------------------------------------------------- case -> form


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # 260, not 260.0: what the clinician would type
    return str(value)


def _flatten(
    value: Any,
    path: str,
    source: str | None,
    form: dict[str, FormValue],
    sources: dict[str, str],
) -> None:
    specs = fields_by_path()
    if isinstance(value, dict):
        own = value.get("source") if isinstance(value.get("source"), str) else source
        given = value.get("sources")
        named: dict[str, str] = given if isinstance(given, dict) else {}
        for key, child in value.items():
            sub = f"{path}.{key}" if path else key
            spec = specs.get(_pattern(sub.split(".")))
            if spec is not None and spec.kind == "mapping":
                if child:
                    form[sub] = orjson.dumps(child).decode()
                continue
            _flatten(child, sub, named.get(key, own), form, sources)
        return
    spec = specs.get(_pattern(path.split(".")))
    if isinstance(value, list) and (spec is None or spec.kind not in ("list", "choices")):
        for index, child in enumerate(value):
            _flatten(child, f"{path}.{index}", source, form, sources)
        return
    if spec is None:
        return
    if spec.kind == "list":
        form[path] = ", ".join(_scalar(v) for v in value)
    elif spec.kind == "choices":
        form[path] = [_scalar(v) for v in value]
    else:
        form[path] = _scalar(value)
    if source and spec.kind != "provenance":
        sources[path] = source


def case_to_form(case: Case) -> tuple[dict[str, FormValue], dict[str, str]]:
    """The form map that shows ``case``, and the source record of each filled value."""
    form: dict[str, FormValue] = {}
    sources: dict[str, str] = {}
    _flatten(case.model_dump(mode="json", exclude_none=True), "", None, form, sources)
    return {k: v for k, v in form.items() if not _empty(v)}, sources
