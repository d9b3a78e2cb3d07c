"""Properties of the treatment decision on generated Cases (hypothesis).

- ``preferred`` is never empty without an explicit reason and a named next step;
- an option moved up always says from where and why;
- an unknown input never yields "not-recommended" where knowing it could yield "consider"
  (metastasectomy, cytoreductive nephrectomy, active surveillance).

Each property can fail: a "reachable" test finds, in the same generated space, a case where
the known answer is "consider" and the blanked one is "uncertain" (so the property is not
vacuous), and a "catches" test finds a counterexample for the behaviour issue 8 reported
(unknown -> "not-recommended"; an empty ``preferred`` without a reason).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from rccnav.core.assess import assess
from rccnav.core.assessment import Decision, RiskGroupName, SystemicTherapy
from rccnav.core.case import Case
from rccnav.core.decisions import active_surveillance, cytoreductive_nephrectomy, metastasectomy
from rccnav.core.decisions.lines import current_line
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

from .conftest import LAB_DAY, ON, make_case, risk_result
from .test_properties import any_case

KB: KnowledgeBase = default_knowledge_base()
SOME = settings(max_examples=150, deadline=None)
#: For the reachability searches: enough tries to find the branch; no shrinking and no
#: example database (the first example found is enough).
SEARCH = settings(
    max_examples=2000,
    deadline=None,
    database=None,
    phases=(Phase.generate,),
    suppress_health_check=list(HealthCheck),
)


def preferred_problems(therapy: SystemicTherapy) -> list[str]:
    """Why ``preferred`` breaks the rule: empty without a reason and a named next step."""
    if therapy.preferred:
        return [] if therapy.no_preferred is None else ["no_preferred set beside preferred"]
    explained = therapy.no_preferred
    if explained is None:
        return ["preferred is empty with no reason"]
    problems = []
    if not (explained.reason.text and explained.reason.rule):
        problems.append("no_preferred without a reason")
    if not explained.next_steps or not set(explained.next_steps) <= set(KB.non_drug_options):
        problems.append(f"no_preferred next steps {explained.next_steps}")
    return problems


@SOME
@given(any_case())
def test_preferred_is_never_empty_without_reason_and_next_step(case: Case) -> None:
    therapy = assess(case, KB, ON).systemic_therapy
    assert not preferred_problems(therapy)


def test_preferred_property_reaches_an_empty_list_and_catches_an_unexplained_one() -> None:
    """Not vacuous: generated cases do leave nothing preferred (contraindications,
    pregnancy); and the check fails such a result once its explanation is removed."""

    def empty(case: Case) -> bool:
        return not assess(case, KB, ON).systemic_therapy.preferred

    case = find(any_case(), empty, settings=SEARCH)
    therapy = assess(case, KB, ON).systemic_therapy
    assert not preferred_problems(therapy)
    assert preferred_problems(dataclasses.replace(therapy, no_preferred=None))


@SOME
@given(any_case())
def test_a_moved_option_says_why_and_is_not_contraindicated(case: Case) -> None:
    therapy = assess(case, KB, ON).systemic_therapy
    for option in therapy.options:
        if option.moved_from is None:
            continue
        assert option.category == "preferred"
        assert not option.contraindicated
        assert any(r.rule == "therapy.fallback" for r in option.reasons)


# --- unknown never reads "not recommended" where knowing it could read "consider" -------------

_METASTASES_SITES = ("lung", "lymph-node", "adrenal", "pancreas", "bone", "liver")


@st.composite
def metastasectomy_truth_and_partial(draw: st.DrawFn) -> tuple[Case, Case]:
    """A fully known case and the same case with some metastasectomy inputs blanked."""
    sites = draw(st.lists(st.sampled_from(_METASTASES_SITES), min_size=1, max_size=3, unique=True))
    mets = [
        {"site": s, "lesions": draw(st.integers(1, 4)), "resectable": draw(st.booleans())}
        for s in sites
    ]
    kps = draw(st.sampled_from([60, 70, 80, 90, 100]))
    fast = draw(st.booleans())
    truth = make_case(
        disease={"metastases": mets, "metastases_recorded": True, "rapidly_progressing": fast},
        performance={"kps": kps, "date": LAB_DAY.isoformat()},
    )
    blank_lesions = draw(st.booleans())
    blank_resectable = draw(st.booleans())
    blank_performance = draw(st.booleans())
    partial_mets = [
        {
            **m,
            "lesions": None if blank_lesions else m["lesions"],
            "resectable": None if blank_resectable else m["resectable"],
        }
        for m in mets
    ]
    partial = make_case(
        disease={
            "metastases": partial_mets,
            "metastases_recorded": True,
            "rapidly_progressing": fast,
        },
        performance=None if blank_performance else {"kps": kps, "date": LAB_DAY.isoformat()},
    )
    return truth, partial


Decide = Callable[[Case], Decision]


def _metastasectomy(case: Case) -> Decision:
    m = metastasectomy.decide(case, KB, ON)
    return Decision(m.recommendation, m.reasons, m.unknowns)


def unknown_problems(decide: Decide, truth: Case, partial: Case) -> list[str]:
    """Why the answer for ``partial`` (some inputs blanked) breaks the rule, given the
    answer for ``truth`` (everything known)."""
    known = decide(truth).recommendation
    guessed = decide(partial)
    problems = []
    if known.startswith("consider") and guessed.recommendation == "not-recommended":
        problems.append(f"not-recommended with unknowns, {known} when known: {guessed.reasons}")
    if guessed.recommendation == "uncertain" and not (
        guessed.unknowns and "would be settled by" in " ".join(r.text for r in guessed.reasons)
    ):
        problems.append(f"uncertain without naming what would settle it: {guessed.reasons}")
    return problems


def _reaches(decide: Decide) -> Callable[[tuple[Case, Case]], bool]:
    def reached(cases: tuple[Case, Case]) -> bool:
        truth, partial = cases
        known = decide(truth).recommendation
        return known.startswith("consider") and decide(partial).recommendation == "uncertain"

    return reached


def _old_behaviour(decide: Decide, blanked: Callable[[Case], bool]) -> Decide:
    """The behaviour issue 8 reported: any unknown input read "not-recommended"."""

    def old(case: Case) -> Decision:
        return Decision("not-recommended", ()) if blanked(case) else decide(case)

    return old


def _broken(decide: Decide) -> Callable[[tuple[Case, Case]], bool]:
    return lambda cases: bool(unknown_problems(decide, *cases))


@SOME
@given(metastasectomy_truth_and_partial())
def test_unknown_never_yields_not_recommended_where_knowing_yields_consider(
    cases: tuple[Case, Case],
) -> None:
    truth, partial = cases
    assert not unknown_problems(_metastasectomy, truth, partial)
    guessed = metastasectomy.decide(partial, KB, ON)
    if guessed.recommendation == "uncertain":
        assert all(u in guessed.reasons[0].text for u in guessed.unknowns)


def _mets_blanked(case: Case) -> bool:
    metastases = case.disease.metastases
    unknown = any(m.lesions is None or m.resectable is None for m in metastases)
    return unknown or case.performance is None


def test_metastasectomy_property_is_reachable_and_catches_the_old_behaviour() -> None:
    reached = _reaches(_metastasectomy)
    truth, partial = find(metastasectomy_truth_and_partial(), reached, settings=SEARCH)
    assert _metastasectomy(truth).recommendation == "consider"
    assert _metastasectomy(partial).recommendation == "uncertain"
    old = _old_behaviour(_metastasectomy, _mets_blanked)
    truth, partial = find(metastasectomy_truth_and_partial(), _broken(old), settings=SEARCH)
    assert unknown_problems(old, truth, partial)


@st.composite
def cn_truth_and_partial(draw: st.DrawFn) -> tuple[Case, Case]:
    primary: dict[str, Any] = {
        "in_place": True,
        "resectable": True,
        "renal_share_of_burden": draw(st.sampled_from(["high", "low", "balanced"])),
        "bleeding": draw(st.booleans()),
        "pain": draw(st.booleans()),
        "paraneoplastic_syndrome": draw(st.booleans()),
        "contralateral_kidney_normal": draw(st.booleans()),
    }
    disease = {
        "metastases": [{"site": "lung", "lesions": 2}],
        "metastases_recorded": True,
        "symptomatic_metastases": False,
        "rapidly_progressing": False,
    }
    blank = draw(st.sets(st.sampled_from(sorted(primary))))
    partial = {k: (None if k in blank else v) for k, v in primary.items()}
    return (
        make_case(primary_tumour=primary, disease=disease),
        make_case(primary_tumour=partial, disease=disease),
    )


def _cn(group: RiskGroupName) -> Decide:
    imdc = risk_result(group)
    return lambda case: cytoreductive_nephrectomy.decide(case, imdc, KB)


@SOME
@given(cn_truth_and_partial(), st.sampled_from(["favorable", "intermediate", "poor"]))
def test_unknown_cn_criterion_never_yields_not_recommended_where_knowing_yields_consider(
    cases: tuple[Case, Case], group: RiskGroupName
) -> None:
    truth, partial = cases
    assert not unknown_problems(_cn(group), truth, partial)
    known = _cn(group)(truth).recommendation
    guessed = _cn(group)(partial).recommendation
    if known == "consider-upfront":
        # Not knowing a favouring criterion must not turn "upfront" into a firm "deferred"
        # unless another known fact already points there (intermediate risk).
        assert guessed in ("consider-upfront", "uncertain") or group != "favorable"


def _cn_blanked(case: Case) -> bool:
    p = case.primary_tumour
    fields = (
        "resectable",
        "renal_share_of_burden",
        "bleeding",
        "pain",
        "paraneoplastic_syndrome",
        "contralateral_kidney_normal",
    )
    return any(getattr(p, f) is None for f in fields)


def test_cn_property_is_reachable_and_catches_the_old_behaviour() -> None:
    decide = _cn("favorable")
    truth, partial = find(cn_truth_and_partial(), _reaches(decide), settings=SEARCH)
    assert decide(truth).recommendation.startswith("consider")
    assert decide(partial).recommendation == "uncertain"
    old = _old_behaviour(decide, _cn_blanked)
    assert unknown_problems(old, *find(cn_truth_and_partial(), _broken(old), settings=SEARCH))


# --- active surveillance -------------------------------------------------------------------

_SURVEILLANCE_FIELDS = ("symptomatic_metastases", "rapidly_progressing")


@st.composite
def surveillance_truth_and_partial(draw: st.DrawFn) -> tuple[Case, Case]:
    """A treatment-naive case with every surveillance input known, and the same case with
    some of them blanked (symptoms, pace, sarcomatoid features)."""
    disease: dict[str, Any] = {
        "metastases": [
            {
                "site": draw(st.sampled_from(["lung", "lymph-node", "bone"])),
                "lesions": draw(st.integers(1, 3)),
            }
        ],
        "metastases_recorded": True,
        **{f: draw(st.booleans()) for f in _SURVEILLANCE_FIELDS},
    }
    sarcomatoid = draw(st.booleans())
    blank = draw(st.sets(st.sampled_from([*_SURVEILLANCE_FIELDS, "sarcomatoid"])))
    partial_disease = {k: (None if k in blank else v) for k, v in disease.items()}
    return (
        make_case(disease=disease, diagnosis={"sarcomatoid": sarcomatoid}),
        make_case(
            disease=partial_disease,
            diagnosis={"sarcomatoid": None if "sarcomatoid" in blank else sarcomatoid},
        ),
    )


def _surveillance(case: Case) -> Decision:
    result = assess(case, KB, ON)
    return active_surveillance.decide(case, result.imdc, current_line(case, KB, ON), KB)


@SOME
@given(surveillance_truth_and_partial())
def test_unknown_never_makes_surveillance_not_recommended(cases: tuple[Case, Case]) -> None:
    assert not unknown_problems(_surveillance, *cases)


def _surveillance_blanked(case: Case) -> bool:
    d = case.disease
    return case.diagnosis.sarcomatoid is None or any(
        getattr(d, f) is None for f in _SURVEILLANCE_FIELDS
    )


def test_surveillance_property_is_reachable_and_catches_the_old_behaviour() -> None:
    reached = _reaches(_surveillance)
    truth, partial = find(surveillance_truth_and_partial(), reached, settings=SEARCH)
    assert _surveillance(truth).recommendation == "consider"
    assert _surveillance(partial).recommendation == "uncertain"
    old = _old_behaviour(_surveillance, _surveillance_blanked)
    counterexample = find(surveillance_truth_and_partial(), _broken(old), settings=SEARCH)
    assert unknown_problems(old, *counterexample)
