"""Properties of the treatment decision on generated Cases (hypothesis).

- ``preferred`` is never empty without an explicit reason and a named next step;
- an option moved up always says from where and why;
- an unknown input never yields "not-recommended" where knowing it could yield "consider"
  (metastasectomy, cytoreductive nephrectomy).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rccnav.core.assess import assess
from rccnav.core.assessment import RiskGroupName
from rccnav.core.case import Case
from rccnav.core.decisions import cytoreductive_nephrectomy, metastasectomy
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

from .conftest import LAB_DAY, ON, make_case, risk_result
from .test_properties import any_case

KB: KnowledgeBase = default_knowledge_base()
SOME = settings(max_examples=150, deadline=None)


@SOME
@given(any_case())
def test_preferred_is_never_empty_without_reason_and_next_step(case: Case) -> None:
    therapy = assess(case, KB, ON).systemic_therapy
    if therapy.preferred:
        assert therapy.no_preferred is None
        return
    explained = therapy.no_preferred
    assert explained is not None, "preferred is empty with no reason"
    assert explained.reason.text and explained.reason.rule
    assert explained.next_steps
    assert set(explained.next_steps) <= set(KB.non_drug_options)


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


@SOME
@given(metastasectomy_truth_and_partial())
def test_unknown_never_yields_not_recommended_where_knowing_yields_consider(
    cases: tuple[Case, Case],
) -> None:
    truth, partial = cases
    known = metastasectomy.decide(truth, KB, ON).recommendation
    guessed = metastasectomy.decide(partial, KB, ON)
    if known == "consider":
        assert guessed.recommendation != "not-recommended", guessed.reasons
    if guessed.recommendation == "uncertain":
        assert guessed.unknowns and all(u in guessed.reasons[0].text for u in guessed.unknowns)


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


@SOME
@given(cn_truth_and_partial(), st.sampled_from(["favorable", "intermediate", "poor"]))
def test_unknown_cn_criterion_never_yields_not_recommended_where_knowing_yields_consider(
    cases: tuple[Case, Case], group: RiskGroupName
) -> None:
    truth, partial = cases
    imdc = risk_result(group)
    known = cytoreductive_nephrectomy.decide(truth, imdc, KB).recommendation
    guessed = cytoreductive_nephrectomy.decide(partial, imdc, KB).recommendation
    if known.startswith("consider"):
        assert guessed != "not-recommended"
    if known == "consider-upfront":
        # Not knowing a favouring criterion must not turn "upfront" into a firm "deferred"
        # unless another known fact already points there (intermediate risk).
        assert guessed in ("consider-upfront", "uncertain") or group != "favorable"
