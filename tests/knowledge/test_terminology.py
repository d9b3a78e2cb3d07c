"""terminology.yaml: it loads, and every target names something the Case or KB knows."""

from __future__ import annotations

import pytest

from rccnav.core.case import (
    AutoimmuneDisease,
    Gene,
    Histology,
    InfectionStatus,
    IrAEOrgan,
    Labs,
    RenalMethod,
    Response,
    SickleStatus,
    Site,
    StopReason,
    TransplantOrgan,
    Vitals,
)
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.terminology import (
    _MEMBERSHIP_MEMORY,
    TerminologyError,
    default_terminology,
    parse_terminology,
)

TERM = default_terminology()

TARGETS: dict[str, set[str]] = {
    "histology": {h.value for h in Histology} | {"unknown"},
    "metastasis-condition": {s.value for s in Site},
    "metastasis-body-site": {s.value for s in Site},
    "observation-kind": set(Labs.model_fields)
    | set(Vitals.model_fields)
    | {
        "kps",
        "ecog",
        "tnm-m",
        "genetic-variant",
        "pregnancy-status",
        "infection-test",
        "disease-status",
    },
    "hereditary-rcc-gene": {g.value for g in Gene},
    "stop-reason": {r.value for r in StopReason},
    "kps-answer": {str(n) for n in range(0, 101, 10)},
    "ecog-answer": {str(n) for n in range(6)},
    "immune-related-adverse-event": {o.value for o in IrAEOrgan},
    "infection": {
        f"{name}:{status.value}"
        for name in ("tuberculosis", "hepatitis_b", "hepatitis_c", "hiv")
        for status in InfectionStatus
    },
    "infection-test": {
        f"{name}:{kind}"
        for name in ("hepatitis_b", "hepatitis_c", "hiv")
        for kind in ("antigen", "antibody", "viral-load")
    },
    "test-result": {"positive", "negative"},
    "transplant-organ": {o.value for o in TransplantOrgan} | {"heart+lung"},
    "autoimmune-disease": {d.value for d in AutoimmuneDisease},
    "autoimmune-other": {
        f"{d.value}:{a}" for d in AutoimmuneDisease for a in ("true", "false", "none")
    },
    "sickle-cell": {s.value for s in SickleStatus if s is not SickleStatus.NONE},
    "egfr-method": {m.value for m in RenalMethod},
    "systemic-corticosteroid": set(TERM.prednisone_mg_per_mg),
    "ctcae-grade": {str(n) for n in range(1, 6)},
    "disease-status": {r.value for r in Response} | {"ned", "improved", "undetermined"},
    "lesion-observation": {"lesion-count", "resectable", "renal-share"},
    "yes-no": {"true", "false"},
    "lesion-count-text": {str(n) for n in range(1, 6)} | {"many"},
}


def test_loads_once_and_is_cached() -> None:
    assert default_terminology() is TERM
    assert TERM.version


@pytest.mark.parametrize("value_set_id", sorted(TARGETS))
def test_targets_are_known_values(value_set_id: str) -> None:
    value_set = TERM.value_set(value_set_id)
    allowed = TARGETS[value_set_id]
    targets = {c.target for c in value_set.concepts} | {r.target for r in value_set.text}
    assert targets - {None} <= allowed


def test_agent_targets_are_knowledge_base_agents() -> None:
    kb = default_knowledge_base()
    targets = {c.target for c in TERM.value_set("antineoplastic-agent").concepts}
    assert targets <= set(kb.agents)
    assert set(TERM.adjuvant_regimens) <= set(kb.regimens) | set(kb.agents)


def test_analyte_loinc_codes_agree_with_the_knowledge_base() -> None:
    kb = default_knowledge_base()
    for analyte in kb.analytes.values():
        for code in analyte.loinc:
            match = TERM.lookup("observation-kind", "http://loinc.org", code)
            assert match is not None and match.target == analyte.id, (analyte.id, code)


def test_every_value_set_cites_sources() -> None:
    assert all(value_set.sources for value_set in TERM.value_sets)


def test_system_aliases_and_icd_normalisation() -> None:
    assert TERM.system_key("urn:oid:2.16.840.1.113883.6.90") == "icd-10-cm"
    match = TERM.lookup("metastasis-condition", "http://hl7.org/fhir/sid/icd-10-cm", "c7951")
    assert match is not None and match.target == "bone"
    assert TERM.lookup("metastasis-condition", "http://unknown.example", "C79.51") is None


def test_kidney_transplant_is_not_a_nephrectomy() -> None:
    assert TERM.lookup("nephrectomy", "http://snomed.info/sct", "70536003") is None
    assert TERM.lookup("nephrectomy", "http://www.ama-assn.org/go/cpt", "50547") is None


def test_essential_hypertension_is_not_uncontrolled() -> None:
    assert (
        TERM.lookup("uncontrolled-hypertension", "http://hl7.org/fhir/sid/icd-10-cm", "I10") is None
    )


def test_rcc_nos_is_not_clear_cell() -> None:
    match = TERM.lookup("histology", "http://terminology.hl7.org/CodeSystem/icd-o-3", "8312/3")
    assert match is not None and match.target == "unknown"


@pytest.mark.parametrize(
    "content",
    [
        {
            "version": "x",
            "code_systems": {},
            "value_sets": [{"id": "a", "title": "t", "sources": [], "status": "verified"}],
        },
        {
            "version": "x",
            "code_systems": {"s": {"url": "u"}},
            "value_sets": [
                {
                    "id": "a",
                    "title": "t",
                    "sources": ["s"],
                    "status": "verified",
                    "concepts": [{"system": "nope", "code": "1", "display": "d"}],
                }
            ],
        },
        {
            "version": "x",
            "code_systems": {"s": {"url": "u"}},
            "value_sets": [
                {
                    "id": "a",
                    "title": "t",
                    "sources": ["s"],
                    "status": "verified",
                    "concepts": [{"system": "s", "display": "neither code nor prefix"}],
                }
            ],
        },
    ],
)
def test_malformed_terminology_fails_loudly(content: dict[str, object]) -> None:
    with pytest.raises(TerminologyError):
        parse_terminology(content)


def _by_scanning(system_url: str, code: str) -> dict[str, str]:
    """Each value set's answer for one coding, found by reading its concepts one by one:
    an exact code wins, else the longest prefix (codes compared as the system writes them)."""
    key = TERM.system_key(system_url)
    icd = key is not None and TERM.data.code_systems[key].normalise == "icd"

    def norm(text: str) -> str:
        return text.strip().replace(".", "").upper() if icd else text.strip()

    wanted = norm(code)
    answers: dict[str, str] = {}
    for value_set in TERM.value_sets:
        concepts = [c for c in value_set.concepts if c.system == key]
        exact = [c for c in concepts if c.code is not None and norm(c.code) == wanted]
        prefixed = sorted(
            (c for c in concepts if c.prefix is not None and wanted.startswith(norm(c.prefix))),
            key=lambda c: -len(norm(c.prefix or "")),
        )
        chosen = (exact or prefixed or [None])[0]
        if chosen is not None:
            answers[value_set.id] = chosen.display
    return answers


def _probes() -> list[tuple[str, str]]:
    """Every code and prefix of the terminology, and longer / respelt codes built from them."""
    probes: set[tuple[str, str]] = set()
    for value_set in TERM.value_sets:
        for concept in value_set.concepts:
            url = TERM.data.code_systems[concept.system].url
            raw = concept.code or concept.prefix or ""
            probes.update({(url, raw), (url, raw + "9"), (url, raw + ".19"), (url, raw[:-1])})
            probes.add((url, raw.lower()))
    probes.add(("http://unknown.example", "C64.1"))
    return sorted(probes)


def test_one_index_across_value_sets_answers_as_each_value_set_does() -> None:
    """The index looks a coding up once for all value sets; each answer must be the one
    that value set gives on its own (exact before prefix, longest prefix first)."""
    probes = _probes()
    assert len(probes) > 500
    for url, code in probes:
        indexed = {s: m.concept.display for s, m in TERM.memberships(url, code).items()}
        assert indexed == _by_scanning(url, code), (url, code)
        for value_set in TERM.value_sets:
            match = TERM.lookup(value_set.id, url, code)
            assert (match.concept.display if match else None) == indexed.get(value_set.id)


def test_an_unknown_value_set_is_an_error_not_a_miss() -> None:
    with pytest.raises(KeyError):
        TERM.lookup("no-such-value-set", "http://loinc.org", "718-7")


def test_a_remembered_text_match_is_the_first_matching_rule() -> None:
    """``match_text`` remembers its answers; asked twice, and after the memory is full and
    cleared, it gives what trying each rule in order gives (including no match)."""
    texts = ["", "several lesions", "Multiple lung metastases", "3 lesions", "no such text"]
    texts += [rule.pattern for value_set in TERM.value_sets for rule in value_set.text]
    for value_set in TERM.value_sets:
        for text in texts:
            scanned = next(
                (
                    found
                    for pattern, found in TERM._compiled[value_set.id].patterns()
                    if text and pattern.search(text)
                ),
                None,
            )
            assert TERM.match_text(value_set.id, text) is scanned
            assert TERM.match_text(value_set.id, text) is scanned, "remembered answer differs"
    with pytest.raises(KeyError):
        TERM.match_text("no-such-value-set", "text")


def test_text_match_memory_is_bounded() -> None:
    set_id = next(value_set.id for value_set in TERM.value_sets if value_set.text)
    for number in range(_MEMBERSHIP_MEMORY + 100):
        TERM.match_text(set_id, f"text {number}")
    assert len(TERM._texts) <= _MEMBERSHIP_MEMORY
