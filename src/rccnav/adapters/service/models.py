"""Pydantic models of what crosses the HTTP boundary: CDS Hooks 2.0 requests,
responses and feedback, and FHIR OperationOutcome for errors.

Requests are validated strictly (no coercion, unknown fields refused) so a
malformed call is answered 400 with an OperationOutcome that names the field,
instead of being half-understood. FHIR resources inside a request (prefetch,
draftOrders) are checked only for shape here; the FHIR reader reads them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import WithJsonSchema

FHIR_ID = r"^[A-Za-z0-9\-\.]{1,64}$"
USER_REFERENCE = r"^(Practitioner|PractitionerRole|Patient|RelatedPerson)/[A-Za-z0-9\-\.]{1,64}$"
RELATIVE_REFERENCE = r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-\.]{1,64}$"

FhirId = Annotated[str, Field(pattern=FHIR_ID)]


def _is_resource(value: dict[str, Any]) -> dict[str, Any]:
    kind = value.get("resourceType")
    if not isinstance(kind, str) or not kind:
        raise ValueError("a FHIR resource needs a resourceType")
    return value


FhirResource = Annotated[
    dict[str, Any],
    AfterValidator(_is_resource),
    WithJsonSchema(
        {
            "type": "object",
            "description": "A FHIR R4 resource",
            "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string", "minLength": 1}},
        }
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class _Open(BaseModel):
    """FHIR structures: known fields checked, other FHIR elements kept."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)


# -- requests --------------------------------------------------------------


class FhirAuthorization(_Strict):
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: FhirId | None = None


class BundleEntry(_Open):
    resource: FhirResource


class DraftOrders(_Open):
    resourceType: Literal["Bundle"]
    entry: list[BundleEntry] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _medication_requests_are_drafts(self) -> DraftOrders:
        for index, item in enumerate(self.entry):
            resource = item.resource
            if resource["resourceType"] != "MedicationRequest":
                continue
            rid = resource.get("id")
            if not isinstance(rid, str) or not rid:
                raise ValueError(f"entry[{index}].resource: a draft MedicationRequest needs an id")
            if resource.get("status") != "draft":
                raise ValueError(f"entry[{index}].resource.status: draft orders must be 'draft'")
        return self


class PatientViewContext(_Strict):
    userId: str = Field(pattern=USER_REFERENCE)
    patientId: FhirId
    encounterId: FhirId | None = None


class OrderSignContext(_Strict):
    userId: str = Field(pattern=USER_REFERENCE)
    patientId: FhirId
    encounterId: FhirId | None = None
    draftOrders: DraftOrders


class OrderSelectContext(OrderSignContext):
    selections: list[Annotated[str, Field(pattern=RELATIVE_REFERENCE)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _selections_in_draft_orders(self) -> OrderSelectContext:
        present = {
            f"{e.resource['resourceType']}/{e.resource.get('id')}" for e in self.draftOrders.entry
        }
        missing = [s for s in self.selections if s not in present]
        if missing:
            raise ValueError(f"selections not found in draftOrders: {missing}")
        return self


class HookRequest(_Strict):
    """A hook call. Unknown top-level fields are ignored: the spec lets CDS Clients send
    fields this version does not define (and reserves ``extension`` for custom ones);
    the fields the spec defines are checked strictly."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)

    hookInstance: str = Field(
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        description="A UUID (CDS Hooks 2.0: 'A universally unique identifier (UUID) for "
        "this particular hook call')",
    )
    fhirServer: str | None = Field(None, pattern=r"^https?://\S+$", max_length=2048)
    fhirAuthorization: FhirAuthorization | None = None
    prefetch: dict[str, FhirResource | None] | None = Field(None, max_length=50)
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> HookRequest:
        # cds-r-1: fhirAuthorization only makes sense with a fhirServer.
        if self.fhirAuthorization is not None and self.fhirServer is None:
            raise ValueError("fhirAuthorization is given but fhirServer is not")
        return self


class PatientViewRequest(HookRequest):
    hook: Literal["patient-view"]
    context: PatientViewContext


class OrderSelectRequest(HookRequest):
    hook: Literal["order-select"]
    context: OrderSelectContext


class OrderSignRequest(HookRequest):
    hook: Literal["order-sign"]
    context: OrderSignContext


AnyHookRequest = PatientViewRequest | OrderSelectRequest | OrderSignRequest


# -- responses -------------------------------------------------------------


class Coding(_Strict):
    system: str
    code: str
    display: str | None = None


class Source(_Strict):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Strict):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: str | None = None


class Suggestion(_Strict):
    label: str
    uuid: str | None = None
    isRecommended: bool | None = None
    actions: list[Action] | None = None


class Link(_Strict):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None
    autolaunchable: bool | None = None


class Card(_Strict):
    uuid: str | None = None
    summary: str = Field(max_length=139)
    detail: str | None = None
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        return self


class CardsResponse(_Strict):
    cards: list[Card]
    systemActions: list[Action] | None = None


class ServiceDescription(_Strict):
    hook: str
    id: str
    title: str | None = None
    description: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = None


class DiscoveryResponse(_Strict):
    services: list[ServiceDescription]


# -- feedback --------------------------------------------------------------


class OverrideReason(_Strict):
    reason: Coding | None = None
    userComment: str | None = Field(None, max_length=4000)


class AcceptedSuggestion(_Strict):
    id: str = Field(min_length=1, max_length=128)


class FeedbackItem(_Strict):
    card: str = Field(min_length=1, max_length=128)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: AwareDatetime

    @model_validator(mode="after")
    def _outcome_fields(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required when outcome is 'accepted'")
        if self.outcome == "accepted" and self.overrideReason is not None:
            raise ValueError("overrideReason is only for outcome 'overridden'")
        return self


class FeedbackRequest(_Strict):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=200)


class FeedbackAck(_Strict):
    stored: int


# -- errors ----------------------------------------------------------------

IssueCode = Literal[
    "invalid",
    "required",
    "structure",
    "too-costly",
    "processing",
    "not-found",
    "transient",
    "security",
    "exception",
    "throttled",
    "timeout",
]


def operation_outcome(
    diagnostics: str,
    *,
    code: IssueCode = "invalid",
    expression: str | None = None,
    severity: Literal["error", "fatal", "warning"] = "error",
) -> dict[str, Any]:
    """A FHIR OperationOutcome with one issue."""
    issue: dict[str, Any] = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        issue["expression"] = [expression]
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"function-after", "function-before", "function-wrap"}:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def validation_outcome(exc: ValidationError, *, limit: int = 20) -> dict[str, Any]:
    """One OperationOutcome issue per validation error, each naming its field.

    Only the location and pydantic's message are used, never the input value,
    so patient data in a bad request does not echo back into logs or responses.
    """
    issues: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False, include_input=False)[:limit]:
        where = _dotted(tuple(error["loc"])) or "(body)"
        code = "required" if error["type"] == "missing" else "invalid"
        if error["type"] == "json_invalid":
            code = "structure"
        message = error["msg"]
        issues.append(
            {
                "severity": "error",
                "code": code,
                "diagnostics": f"{where}: {message}",
                "expression": [where],
            }
        )
    return {"resourceType": "OperationOutcome", "issue": issues}
