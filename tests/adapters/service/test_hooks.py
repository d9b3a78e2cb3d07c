"""CDS Hooks services over HTTP: discovery, patient-view, order-select, order-sign.

Data comes three ways, as in an EHR: prefetched (the vignettes split into our
prefetch keys), fetched by the service from a real FHIR server on loopback
(sekmet-fhir holding the same vignettes) when a key is missing, or not at all
(412). The spec's own request examples are used wherever they fit our hooks.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from rccnav.adapters.service.cards import NON_ADHERENCE_SYSTEM, TOPIC_SYSTEM
from rccnav.adapters.service.models import (
    Action,
    Card,
    CardsResponse,
    Coding,
    DiscoveryResponse,
    Source,
)
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import CHECKPOINT_CLASSES

from .conftest import (
    DOCS_HOOKS,
    SPEC,
    SPEC_PATIENT,
    LiveServer,
    Tokens,
    expected,
    hook_request,
    load_json,
    patient_of,
    prefetch_from,
    service_config,
    vignette,
    vignette_names,
)

PV = "/cds-services/rccnav-patient-view"
SIGN = "/cds-services/rccnav-order-sign"
SELECT = "/cds-services/rccnav-order-select"
if not SPEC.is_dir():
    # A clone without ../shared beside it: skip like the other fixture tests (in CI the
    # suite refuses to start instead, tests/conftest.py) rather than fail to collect.
    pytest.skip(f"CDS Hooks spec examples not found at {SPEC}", allow_module_level=True)
FHIR_AUTH = load_json(SPEC / "fhirAuthorization-example.json")["fhirAuthorization"]


def call(live: LiveServer, tokens: Tokens, path: str, body: dict[str, Any]) -> httpx.Response:
    with live.client() as client:
        return client.post(
            path,
            content=orjson.dumps(body),
            headers={**tokens.header(live.url + path), "Content-Type": "application/json"},
        )


def cards_of(response: httpx.Response) -> list[Card]:
    assert response.status_code == 200, response.text[:2000]
    return CardsResponse.model_validate_json(response.content).cards


def by_type(cards: list[Card]) -> dict[str, Card]:
    out: dict[str, Card] = {}
    for card in cards:
        assert card.source.topic is not None
        assert card.source.topic.system == TOPIC_SYSTEM
        out[card.source.topic.code] = card
    return out


def assert_spec_compliant(cards: list[Card]) -> None:
    uuids = [c.uuid for c in cards]
    assert all(uuids) and len(set(uuids)) == len(uuids)
    for card in cards:
        assert len(card.summary) < 140
        assert card.indicator in {"info", "warning", "critical"}
        assert card.source.label
        assert card.detail
        if card.suggestions:
            assert card.selectionBehavior == "at-most-one"
            assert all(s.uuid for s in card.suggestions)
        for reason in card.overrideReasons or ():
            assert reason.display


def with_drafts(
    name: str, *, agents: tuple[str, ...] | None = None
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(patient id, prefetch without draft orders, draftOrders Bundle) for a vignette."""
    bundle = vignette(name)
    pid = patient_of(bundle)["id"]
    prefetch = prefetch_from(bundle)
    entries = prefetch["medicationRequests"]["entry"]
    drafts = [e["resource"] for e in entries if e["resource"].get("status") == "draft"]
    prefetch["medicationRequests"]["entry"] = [
        e for e in entries if e["resource"].get("status") != "draft"
    ]
    if agents is not None:
        drafts = [
            {
                "resourceType": "MedicationRequest",
                "id": f"draft-{agent}",
                "status": "draft",
                "intent": "order",
                "medicationCodeableConcept": {"text": agent},
                "subject": {"reference": f"Patient/{pid}"},
            }
            for agent in agents
        ]
    draft_orders = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": d} for d in drafts],
    }
    return pid, prefetch, draft_orders


# -- discovery ---------------------------------------------------------------------------


def test_discovery(live: LiveServer, tokens: Tokens) -> None:
    with live.client() as client:
        response = client.get("/cds-services", headers=tokens.header(live.url + "/cds-services"))
    assert response.status_code == 200
    services = {s.id: s for s in DiscoveryResponse.model_validate_json(response.content).services}
    assert {s.hook for s in services.values()} == {"patient-view", "order-select", "order-sign"}
    for service in services.values():
        assert service.prefetch is not None
        assert service.prefetch["patient"] == "Patient/{{context.patientId}}"
        assert "http://loinc.org|718-7" in service.prefetch["observations"]
        assert service.usageRequirements


def test_our_models_read_the_spec_examples() -> None:
    """The response models we emit accept the spec's own examples of the same objects."""
    DiscoveryResponse.model_validate(load_json(SPEC / "discovery-response.json"))
    DiscoveryResponse.model_validate(load_json(SPEC / "discovery-response-with-extension.json"))
    CardsResponse.model_validate(load_json(SPEC / "card-response-example-1.json"))
    CardsResponse.model_validate(load_json(SPEC / "response-empty-cards.json"))
    Source.model_validate(load_json(SPEC / "card-source-example.json")["source"])
    for reason in load_json(SPEC / "override-reasons-example.json")["overrideReasons"]:
        Coding.model_validate(reason)
    for name in ("action-create.json", "action-update.json", "action-delete.json"):
        Action.model_validate(load_json(SPEC / name))


# -- patient-view with the vignettes as prefetch ----------------------------------------


@pytest.mark.parametrize("name", vignette_names())
def test_vignettes_as_prefetch(live: LiveServer, tokens: Tokens, name: str) -> None:
    bundle = vignette(name)
    pid = patient_of(bundle)["id"]
    cards = cards_of(
        call(live, tokens, PV, hook_request("patient-view", pid, prefetch=prefetch_from(bundle)))
    )
    assert_spec_compliant(cards)
    types = by_type(cards)
    expect = expected(name)["expect"]
    imdc = types["imdc-risk"]
    if "imdc_group" in expect:
        group = expect["imdc_group"]
        assert (group or "undetermined") in imdc.summary
        assert imdc.indicator == ("info" if group else "warning")
    therapy = types["systemic-therapy"]
    if "line" in expect:
        assert therapy.summary.startswith(f"Line {expect['line']} ")
    for code in expect.get("warn_has", ()):
        assert code in types, f"{code} card missing: {sorted(types)}"
    for code in expect.get("warn_lacks", ()):
        assert code not in types
    order = [c.indicator for c in cards]
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert order == sorted(order, key=rank.__getitem__)


def test_unknown_calcium_says_what_would_settle_it(live: LiveServer, tokens: Tokens) -> None:
    bundle = vignette("p06-no-calcium")
    cards = by_type(
        cards_of(
            call(
                live,
                tokens,
                PV,
                hook_request(
                    "patient-view", patient_of(bundle)["id"], prefetch=prefetch_from(bundle)
                ),
            )
        )
    )
    imdc = cards["imdc-risk"]
    assert imdc.detail is not None
    if "undetermined" in imdc.summary:
        assert "What would settle it" in imdc.detail
    assert "calcium" in imdc.detail


def test_card_detail_cites_sources_and_escapes_data(live: LiveServer, tokens: Tokens) -> None:
    bundle = vignette("p08-gemcitabine-clear-cell")
    cards = by_type(
        cards_of(
            call(
                live,
                tokens,
                PV,
                hook_request(
                    "patient-view", patient_of(bundle)["id"], prefetch=prefetch_from(bundle)
                ),
            )
        )
    )
    card = cards["ineffective-therapy"]
    assert card.indicator == "critical"
    assert card.detail is not None and "**Sources**" in card.detail
    assert card.source.url and card.source.url.startswith("https://")
    assert "<script" not in (card.detail or "")


# -- order-sign / order-select --------------------------------------------------------


def test_order_sign_warns_on_chemotherapy_and_suggests_alternatives(
    live: LiveServer, tokens: Tokens
) -> None:
    pid, prefetch, drafts = with_drafts("p08-gemcitabine-clear-cell")
    body = hook_request("order-sign", pid, prefetch=prefetch, context={"draftOrders": drafts})
    cards = cards_of(call(live, tokens, SIGN, body))
    assert_spec_compliant(cards)
    card = by_type(cards)["ineffective-therapy"]
    assert card.indicator == "critical"
    assert card.overrideReasons and card.overrideReasons[0].system == NON_ADHERENCE_SYSTEM
    assert card.suggestions
    kb = default_knowledge_base()
    first = card.suggestions[0]
    assert first.isRecommended
    assert first.actions is not None
    deleted = [a.resourceId for a in first.actions if a.type == "delete"]
    draft_id = drafts["entry"][0]["resource"]["id"]
    assert deleted == [f"MedicationRequest/{draft_id}"]
    created = [a.resource for a in first.actions if a.type == "create"]
    assert created and all(r is not None and r["status"] == "draft" for r in created)
    # Only guideline regimens are suggested.
    names = {kb.regimens[r].name for r in kb.regimens}
    assert all(
        s.label.removeprefix("Order ").removesuffix(" instead") in names for s in card.suggestions
    )


def test_order_select_flags_checkpoint_inhibitor_contraindication(
    live: LiveServer, tokens: Tokens
) -> None:
    pid, prefetch, drafts = with_drafts("p12-lupus", agents=("pembrolizumab", "axitinib"))
    body = hook_request(
        "order-select",
        pid,
        prefetch=prefetch,
        context={"draftOrders": drafts, "selections": ["MedicationRequest/draft-pembrolizumab"]},
    )
    cards = by_type(cards_of(call(live, tokens, SELECT, body)))
    card = cards["ici-contraindication"]
    assert card.indicator == "critical"
    kb = default_knowledge_base()
    for suggestion in card.suggestions or ():
        for action in suggestion.actions or ():
            if action.type == "create" and action.resource:
                agent = kb.resolve_agent(action.resource["medicationCodeableConcept"]["text"])
                assert agent is not None
                assert kb.agents[agent].agent_class not in CHECKPOINT_CLASSES


def test_nonstandard_combination_suggests_what_was_likely_meant(
    live: LiveServer, tokens: Tokens
) -> None:
    """The seed's "ipilimumab + cabozantinib" is no guideline regimen."""
    pid, prefetch, drafts = with_drafts("p01-favorable-si", agents=("ipilimumab", "cabozantinib"))
    body = hook_request("order-sign", pid, prefetch=prefetch, context={"draftOrders": drafts})
    cards = by_type(cards_of(call(live, tokens, SIGN, body)))
    card = cards["nonstandard-regimen"]
    assert card.indicator == "critical"
    kb = default_knowledge_base()
    combo = next(
        c for c in kb.nonstandard_combinations if set(c.agents) == {"ipilimumab", "cabozantinib"}
    )
    labels = [s.label for s in card.suggestions or ()]
    meant = {f"Order {kb.regimens[r].name} instead" for r in combo.likely_meant}
    assert labels and labels[0] in meant
    # ...but never one that does not fit this patient: nivolumab + ipilimumab is not
    # a first-line option for favorable risk.
    assert f"Order {kb.regimens['ipilimumab+nivolumab'].name} instead" not in labels


def test_regimen_that_does_not_fit_the_risk_group(live: LiveServer, tokens: Tokens) -> None:
    """Nivolumab + ipilimumab for favorable risk: NCCN lists it (2B), EAU/ESMO do not."""
    pid, prefetch, drafts = with_drafts("p01-favorable-si", agents=("nivolumab", "ipilimumab"))
    body = hook_request("order-sign", pid, prefetch=prefetch, context={"draftOrders": drafts})
    cards = by_type(cards_of(call(live, tokens, SIGN, body)))
    assert "guideline-disagreement" in cards
    assert cards["guideline-disagreement"].indicator == "warning"
    assert "EAU and ESMO do not recommend it" in (cards["guideline-disagreement"].detail or "")


def test_a_preferred_regimen_raises_no_card(live: LiveServer, tokens: Tokens) -> None:
    pid, prefetch, drafts = with_drafts("p01-favorable-si", agents=("pembrolizumab", "axitinib"))
    body = hook_request("order-sign", pid, prefetch=prefetch, context={"draftOrders": drafts})
    assert cards_of(call(live, tokens, SIGN, body)) == []


def test_pd1_rechallenge_after_ici_progression(live: LiveServer, tokens: Tokens) -> None:
    pid, prefetch, drafts = with_drafts("p10-after-ipi-nivo", agents=("nivolumab",))
    body = hook_request("order-sign", pid, prefetch=prefetch, context={"draftOrders": drafts})
    cards = by_type(cards_of(call(live, tokens, SIGN, body)))
    assert {"ici-rechallenge", "regimen-not-recommended"} & cards.keys()


def test_order_select_without_a_selected_medication_is_silent(
    live: LiveServer, tokens: Tokens
) -> None:
    body = {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        **load_json(DOCS_HOOKS / "order-select-request-R4.json"),
    }
    body["context"]["selections"] = ["NutritionOrder/pureeddiet-simple"]
    assert cards_of(call(live, tokens, SELECT, body)) == []


# -- the spec's request examples ---------------------------------------------------------

ORDER_EXAMPLES = [
    ("order-select", SELECT, "order-select-request-R4.json"),
    ("order-select", SELECT, "order-select-request-STU3.json"),
    ("order-sign", SIGN, "order-sign-request-R4.json"),
    ("order-sign", SIGN, "order-sign-request-STU3.json"),
]


@pytest.mark.parametrize(("hook", "path", "name"), ORDER_EXAMPLES)
def test_spec_order_examples_without_data_are_412(
    live: LiveServer, tokens: Tokens, hook: str, path: str, name: str
) -> None:
    """No prefetch and no fhirServer: the spec says 412."""
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), **load_json(DOCS_HOOKS / name)}
    response = call(live, tokens, path, body)
    assert response.status_code == 412
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["prefetch.patient"]


@pytest.mark.parametrize(("hook", "path", "name"), ORDER_EXAMPLES)
def test_spec_order_examples_fetch_from_the_fhir_server(
    live: LiveServer, tokens: Tokens, fhir_base: str, hook: str, path: str, name: str
) -> None:
    """With a fhirServer the data is fetched; amoxicillin is not ours to comment on."""
    body = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_base,
        "fhirAuthorization": FHIR_AUTH,
        **load_json(DOCS_HOOKS / name),
    }
    assert cards_of(call(live, tokens, path, body)) == []


def test_spec_patient_view_example(live: LiveServer, tokens: Tokens, fhir_base: str) -> None:
    body = load_json(SPEC / "patient-view-request-with-prefetch.json")
    # As published: its fhirServer is not one this service may call, and the one
    # prefetch key it carries ("patientToGreet") is not ours.
    response = call(live, tokens, PV, body)
    assert response.status_code == 412
    body["fhirServer"] = fhir_base
    cards = cards_of(call(live, tokens, PV, body))
    assert_spec_compliant(cards)
    assert "imdc-risk" in by_type(cards)


def test_spec_pagination_example(live: LiveServer, tokens: Tokens, fhir_base: str) -> None:
    body = load_json(SPEC / "order-sign-request-prefetch-pagination.json")
    assert call(live, tokens, SIGN, body).status_code == 412
    body["fhirServer"] = fhir_base
    assert cards_of(call(live, tokens, SIGN, body)) == []


# -- fetching from the FHIR server ----------------------------------------------------------


@pytest.mark.parametrize("name", vignette_names())
def test_missing_prefetch_is_fetched_from_the_fhir_server(
    live: LiveServer, tokens: Tokens, fhir_base: str, name: str
) -> None:
    bundle = vignette(name)
    pid = patient_of(bundle)["id"]
    prefetched = cards_of(
        call(live, tokens, PV, hook_request("patient-view", pid, prefetch=prefetch_from(bundle)))
    )
    fetched = cards_of(
        call(
            live,
            tokens,
            PV,
            hook_request("patient-view", pid, fhirServer=fhir_base, fhirAuthorization=FHIR_AUTH),
        )
    )
    assert [c.summary for c in fetched] == [c.summary for c in prefetched]


def test_partly_prefetched_data_is_completed(
    live: LiveServer, tokens: Tokens, fhir_base: str
) -> None:
    bundle = vignette("p03-poor")
    pid = patient_of(bundle)["id"]
    full = prefetch_from(bundle)
    partial = {
        "patient": full["patient"],
        "observations": full["observations"],
        "conditions": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout"}],
        },
    }
    cards = by_type(
        cards_of(
            call(
                live,
                tokens,
                PV,
                hook_request("patient-view", pid, prefetch=partial, fhirServer=fhir_base),
            )
        )
    )
    assert "poor" in cards["imdc-risk"].summary


def test_prefetched_search_pages_are_followed(
    live: LiveServer, tokens: Tokens, fhir_base: str
) -> None:
    """p10's two prior checkpoint-inhibitor courses arrive one per page."""
    bundle = vignette("p10-after-ipi-nivo")
    pid = patient_of(bundle)["id"]
    page = httpx.get(
        f"{fhir_base}/MedicationAdministration", params={"patient": pid, "_count": 1}
    ).json()
    assert len(page["entry"]) == 1 and any(link["relation"] == "next" for link in page["link"])
    prefetch = prefetch_from(bundle)
    prefetch["medicationAdministrations"] = page
    with_pages = by_type(
        cards_of(
            call(
                live,
                tokens,
                PV,
                hook_request("patient-view", pid, prefetch=prefetch, fhirServer=fhir_base),
            )
        )
    )
    assert with_pages["systemic-therapy"].summary.startswith("Line 2 ")
    # Without a fhirServer the remaining pages cannot be had: 412, not a wrong answer.
    response = call(live, tokens, PV, hook_request("patient-view", pid, prefetch=prefetch))
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.medicationAdministrations"]


def test_null_prefetch_means_no_data(live: LiveServer, tokens: Tokens) -> None:
    bundle = vignette("p01-favorable-si")
    pid = patient_of(bundle)["id"]
    prefetch = prefetch_from(bundle)
    prefetch["medicationStatements"] = None  # the client has none: nothing to fetch
    assert cards_of(call(live, tokens, PV, hook_request("patient-view", pid, prefetch=prefetch)))
    prefetch["patient"] = None  # but without the Patient there is nothing to assess
    response = call(live, tokens, PV, hook_request("patient-view", pid, prefetch=prefetch))
    assert response.status_code == 412


def test_data_about_another_patient_is_refused(live: LiveServer, tokens: Tokens) -> None:
    bundle = vignette("p01-favorable-si")
    prefetch = prefetch_from(bundle)
    response = call(
        live, tokens, PV, hook_request("patient-view", "someone-else", prefetch=prefetch)
    )
    assert response.status_code == 400
    other = prefetch_from(vignette("p03-poor"))
    mixed = {**prefetch, "observations": other["observations"]}
    response = call(
        live, tokens, PV, hook_request("patient-view", patient_of(bundle)["id"], prefetch=mixed)
    )
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["prefetch.observations"]


def test_unusable_fhir_data_is_422(live: LiveServer, tokens: Tokens) -> None:
    """A patient without any renal cell carcinoma diagnosis is not ours to assess."""
    bundle = vignette("p01-favorable-si")
    pid = patient_of(bundle)["id"]
    prefetch = prefetch_from(bundle)
    prefetch["conditions"]["entry"] = []
    response = call(live, tokens, PV, hook_request("patient-view", pid, prefetch=prefetch))
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"


def test_fhir_server_errors_are_412(
    live: LiveServer, tokens: Tokens, fhir_base: str, documents: Any
) -> None:
    bundle = vignette("p01-favorable-si")
    pid = patient_of(bundle)["id"]
    prefetch = prefetch_from(bundle, skip=("procedures",))
    # The FHIR server answers, but not with data for this query.
    response = call(
        live,
        tokens,
        PV,
        hook_request("patient-view", pid, prefetch=prefetch, fhirServer=fhir_base + "/nowhere"),
    )
    assert response.status_code == 412
    assert response.json()["issue"][0]["expression"] == ["prefetch.procedures"]


def test_logs_carry_no_patient_identifiers(
    live: LiveServer, tokens: Tokens, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    bundle = copy.deepcopy(vignette("p03-poor"))
    pid = patient_of(bundle)["id"]
    body = hook_request("patient-view", pid, prefetch=prefetch_from(bundle))
    assert call(live, tokens, PV, body).status_code == 200
    access = [r.getMessage() for r in caplog.records if r.name == "rccnav.service.access"]
    assert any(body["hookInstance"] in line for line in access)
    assert any("service=rccnav-patient-view" in line and " 200 " in line for line in access)
    assert pid not in caplog.text
    assert "fhirAuthorization" not in caplog.text


def test_fetching_logs_no_patient_identifiers(
    live: LiveServer, tokens: Tokens, fhir_base: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    bundle = vignette("p03-poor")
    pid = patient_of(bundle)["id"]
    body = hook_request("patient-view", pid, fhirServer=fhir_base, fhirAuthorization=FHIR_AUTH)
    assert call(live, tokens, PV, body).status_code == 200
    access = [r.getMessage() for r in caplog.records if r.name == "rccnav.service.access"]
    assert any("fetched=patient," in line for line in access)
    assert pid not in caplog.text
    assert FHIR_AUTH["access_token"] not in caplog.text


def test_spec_patient_is_served_by_the_fhir_server(fhir_base: str) -> None:
    """Sanity of the fixture: the spec examples' patient exists on the FHIR server."""
    patient = httpx.get(f"{fhir_base}/Patient/{SPEC_PATIENT}").json()
    assert patient["id"] == SPEC_PATIENT


def test_report_url_is_every_cards_first_link(
    serve: Callable[..., LiveServer], tokens: Tokens
) -> None:
    report = "https://rccnav.example.org/report"
    live = serve(report_url=report)
    bundle = vignette("p03-poor")
    body = hook_request("patient-view", patient_of(bundle)["id"], prefetch=prefetch_from(bundle))
    cards = cards_of(call(live, tokens, PV, body))
    assert cards
    for card in cards:
        assert card.links and card.links[0].url == report and card.links[0].type == "absolute"
        assert card.detail is not None and len(card.detail) <= 2_000


def test_report_url_must_be_a_web_address(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="report_url"):
        service_config(tmp_path, report_url="file:///etc/passwd")
