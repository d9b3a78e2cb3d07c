"""Invariants of the core, checked on generated factor vectors and Cases (hypothesis).

Each property runs at most 200 examples so the suite stays fast.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rccnav.core.assess import assess
from rccnav.core.assessment import Assessment, Factor, FactorStatus, Reason
from rccnav.core.case import (
    Case,
    Comorbidities,
    Gene,
    Histology,
    RenalShare,
    Response,
    Sex,
    Site,
    StopReason,
)
from rccnav.core.prognosis.risk import GROUP_ORDER, classify, group_for_count
from rccnav.knowledge.loader import default_knowledge_base
from rccnav.knowledge.model import KnowledgeBase

from .conftest import LAB_DAY, ON, lab, make_case

KB: KnowledgeBase = default_knowledge_base()
RANK = {group: rank for rank, group in enumerate(GROUP_ORDER)}
FEW = settings(max_examples=200, deadline=None)
SOME = settings(max_examples=120, deadline=None)

IMDC_NAMES = (
    "performance_status",
    "time_to_treatment",
    "hemoglobin",
    "calcium",
    "neutrophils",
    "platelets",
)
STATUSES: tuple[FactorStatus, ...] = ("present", "absent", "unknown")


def decimals(low: float, high: float, places: int) -> st.SearchStrategy[float]:
    scale = 10**places
    return st.integers(round(low * scale), round(high * scale)).map(lambda n: n / scale)


def classify_statuses(statuses: tuple[FactorStatus, ...]):  # type: ignore[no-untyped-def]
    factors = tuple(Factor(n, s, "generated") for n, s in zip(IMDC_NAMES, statuses, strict=True))
    return classify("imdc", factors, KB, "prognosis.imdc", "first-line")


status_vectors = st.tuples(*[st.sampled_from(STATUSES)] * 6)


# --- 1. adding a present factor never lowers the group --------------------------------------------


@FEW
@given(status_vectors, st.integers(0, 5))
def test_adding_a_present_factor_never_lowers_the_group(
    statuses: tuple[FactorStatus, ...], index: int
) -> None:
    worse = list(statuses)
    worse[index] = "present"
    before, after = classify_statuses(statuses), classify_statuses(tuple(worse))
    assert min(RANK[g] for g in after.possible_groups) >= min(
        RANK[g] for g in before.possible_groups
    )
    assert max(RANK[g] for g in after.possible_groups) >= max(
        RANK[g] for g in before.possible_groups
    )
    if before.risk_group and after.risk_group:
        assert RANK[after.risk_group] >= RANK[before.risk_group]


# --- 2. the possible groups are exactly the groups of the completions -----------------------------


@FEW
@given(status_vectors)
def test_possible_groups_are_the_groups_of_every_completion(
    statuses: tuple[FactorStatus, ...],
) -> None:
    result = classify_statuses(statuses)
    unknown = [i for i, s in enumerate(statuses) if s == "unknown"]
    completion_groups = set()
    for filled in itertools.product(("present", "absent"), repeat=len(unknown)):
        complete = list(statuses)
        for i, status in zip(unknown, filled, strict=True):
            complete[i] = status
        completion_groups.add(group_for_count(complete.count("present")))
    assert set(result.possible_groups) == completion_groups
    assert (result.risk_group is not None) == (len(completion_groups) == 1)


# KPS range each ECOG grade spans (rule prognosis.ecog-to-kps).
ECOG_FOR_KPS = {100: 0, 90: 0, 80: 1, 70: 1, 60: 2, 50: 2, 40: 3, 30: 3, 20: 4, 10: 4, 0: 5}
STALE = ON - timedelta(days=40)


@st.composite
def truth_and_partial(draw: st.DrawFn) -> tuple[Case, Case]:
    """A fully known Case (the truth) and the same patient with some items hidden.

    Hidden means: missing, stale (outside the look-back), ECOG instead of KPS, or a lab
    without its own range (the KB fallback interval then contains the true limit).
    """
    sex = draw(st.sampled_from([None, "female", "male"]))
    kps = draw(st.sampled_from(sorted(ECOG_FOR_KPS)))
    diagnosed = ON - timedelta(days=draw(st.integers(0, 1200)))
    hb_lln = {"female": 12.0, "male": 13.5}.get(sex or "") or draw(decimals(12.0, 13.5, 1))
    truth_labs = {
        "hemoglobin": lab(draw(decimals(8.0, 16.0, 1)), "g/dL", hb_lln, 17.5),
        "calcium_total": lab(draw(decimals(8.0, 12.0, 1)), "mg/dL", 8.5, 10.2),
        "albumin": lab(draw(decimals(2.5, 5.0, 1)), "g/dL", 3.5, 5.0),
        "neutrophils": lab(
            draw(decimals(2.0, 12.0, 1)), "10*9/L", 1.5, draw(decimals(7.0, 8.0, 1))
        ),
        "platelets": lab(draw(st.integers(150, 600)), "10*9/L", 150, draw(st.integers(400, 450))),
    }
    truth: dict[str, Any] = {
        "sex": sex,
        "performance": {"kps": kps},
        "diagnosis": {"date": diagnosed.isoformat()},
        "labs": truth_labs,
    }
    partial_labs: dict[str, Any] = dict(truth_labs)
    for name, measurement in truth_labs.items():
        how = draw(st.sampled_from(["keep", "drop", "stale", "no-range"]))
        if how == "drop":
            partial_labs[name] = None
        elif how == "stale":
            partial_labs[name] = {**measurement, "date": STALE.isoformat()}
        elif how == "no-range" and name != "albumin":
            # Albumin has no fallback limit (and needs none); the true calcium ULN is 10.2,
            # the KB's single fallback value, so every fallback interval contains the truth.
            partial_labs[name] = {**measurement, "low": None, "high": None}
    performance = draw(
        st.sampled_from([{"kps": kps}, {"kps": None, "ecog": ECOG_FOR_KPS[kps]}, None])
    )
    diagnosis = draw(st.sampled_from([{"date": diagnosed.isoformat()}, {"date": None}]))
    partial = {**truth, "performance": performance, "diagnosis": diagnosis, "labs": partial_labs}
    return make_case(truth), make_case(partial)


@SOME
@given(truth_and_partial())
def test_possible_groups_contain_the_group_of_the_completed_case(cases: tuple[Case, Case]) -> None:
    truth, partial = cases
    known, hidden = assess(truth, KB, ON), assess(partial, KB, ON)
    for model in ("imdc", "mskcc"):
        complete, incomplete = getattr(known, model), getattr(hidden, model)
        if model == "imdc":  # the truth is fully known for IMDC (MSKCC's LDH is default-limited)
            assert complete.risk_group is not None, complete.factors
        for f_true, f_seen in zip(complete.factors, incomplete.factors, strict=True):
            assert f_seen.status in ("unknown", f_true.status), (f_true, f_seen)
        if complete.risk_group is not None:
            assert complete.risk_group in incomplete.possible_groups


@SOME
@given(truth_and_partial())
def test_a_present_performance_factor_never_lowers_the_case_group(cases: tuple[Case, Case]) -> None:
    for case in cases:
        before = assess(case, KB, ON).imdc
        after = assess(
            case.model_copy(update={"performance": make_case(performance={"kps": 60}).performance}),
            KB,
            ON,
        ).imdc
        assert min(RANK[g] for g in after.possible_groups) >= min(
            RANK[g] for g in before.possible_groups
        )
        assert max(RANK[g] for g in after.possible_groups) >= max(
            RANK[g] for g in before.possible_groups
        )


# --- 3. SI and conventional units give identical factor statuses ----------------------------------

HB_G_PER_MOL = 16114.5  # haemoglobin monomer (KB analyte hemoglobin)
CA_G_PER_MOL = 40.078


@FEW
@given(
    hb=decimals(5.0, 18.0, 1),
    hb_lln=st.one_of(st.none(), decimals(11.0, 14.0, 1)),
    calcium=decimals(7.0, 13.0, 2),
    calcium_uln=st.one_of(st.none(), decimals(9.5, 10.8, 1)),
    albumin=decimals(2.0, 5.0, 1),
    hb_si=st.sampled_from(["g/L", "mmol/L"]),
    sex=st.sampled_from([None, "female", "male"]),
)
# Found by this property: Payne-corrected calcium exactly at the ULN (7.9 + 0.8 x 2.0 = 9.5)
# differed from the converted SI limit in the last binary digit and counted as "above".
@example(hb=5.0, hb_lln=None, calcium=7.9, calcium_uln=9.5, albumin=2.0, hb_si="g/L", sex=None)
def test_si_and_conventional_units_give_identical_statuses(
    hb: float,
    hb_lln: float | None,
    calcium: float,
    calcium_uln: float | None,
    albumin: float,
    hb_si: str,
    sex: str | None,
) -> None:
    hb_factor = 10.0 if hb_si == "g/L" else 10.0 / HB_G_PER_MOL * 1000  # g/dL -> g/L or mmol/L
    ca_factor = 10.0 / CA_G_PER_MOL  # mg/dL -> mmol/L

    def scaled(value: float | None, factor: float) -> float | None:
        return None if value is None else value * factor

    conventional = make_case(
        sex=sex,
        labs={
            "hemoglobin": lab(hb, "g/dL", hb_lln, None),
            "calcium_total": lab(calcium, "mg/dL", None, calcium_uln),
            "albumin": lab(albumin, "g/dL"),
        },
    )
    si = make_case(
        sex=sex,
        labs={
            "hemoglobin": lab(hb * hb_factor, hb_si, scaled(hb_lln, hb_factor), None),
            "calcium_total": lab(
                calcium * ca_factor, "mmol/L", None, scaled(calcium_uln, ca_factor)
            ),
            "albumin": lab(albumin * 10, "g/L"),
        },
    )
    a, b = assess(conventional, KB, ON), assess(si, KB, ON)
    for model in ("imdc", "mskcc"):
        for name in ("hemoglobin", "calcium"):
            fa = next(f for f in getattr(a, model).factors if f.name == name)
            fb = next(f for f in getattr(b, model).factors if f.name == name)
            assert fa.status == fb.status, (model, name, fa.evidence, fb.evidence)


# --- random Cases ---------------------------------------------------------------------------------

UNITS = {
    "hemoglobin": ["g/dL", "g/L", "mmol/L"],
    "calcium_total": ["mg/dL", "mmol/L"],
    "calcium_corrected": ["mg/dL", "mmol/L"],
    "calcium_ionized": ["mmol/L", "mg/dL"],
    "albumin": ["g/dL", "g/L"],
    "neutrophils": ["10*9/L", "10*3/uL", "/uL"],
    "platelets": ["10*9/L", "10*3/uL", "/mm3"],
    "ldh": ["U/L", "ukat/L"],
    "egfr": ["mL/min/{1.73_m2}"],
    "creatinine": ["mg/dL", "umol/L"],
}
AGENT_NAMES = [*sorted(KB.alias_index), "wonderdrug"]
dates = st.dates(min_value=date(2015, 1, 1), max_value=ON + timedelta(days=60))
maybe_bool = st.one_of(st.none(), st.booleans())


@st.composite
def measurements(draw: st.DrawFn, field: str) -> dict[str, Any] | None:
    if draw(st.booleans()):
        return None
    unit = draw(st.sampled_from([*UNITS[field], "furlong"]))
    value = draw(st.floats(0, 1e6, allow_nan=False, allow_infinity=False))
    limits = sorted(draw(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=2)))
    low, high = draw(
        st.sampled_from([(None, None), (limits[0], None), (None, limits[1]), tuple(limits)])
    )
    day = draw(st.one_of(st.none(), dates))
    return {
        "value": value,
        "unit": unit,
        "low": low,
        "high": high,
        "date": day.isoformat() if day else None,
        "status": draw(st.sampled_from(["final", "preliminary"])),
    }


@st.composite
def therapies(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(st.one_of(st.none(), dates))
    end = draw(st.one_of(st.none(), dates)) if start else None
    if start and end and end < start:
        start, end = end, start
    return {
        "agents": draw(st.lists(st.sampled_from(AGENT_NAMES), min_size=1, max_size=3)),
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "setting": draw(st.sampled_from(["metastatic", "adjuvant"])),
        "best_response": draw(st.one_of(st.none(), st.sampled_from([r.value for r in Response]))),
        "stop_reason": draw(st.one_of(st.none(), st.sampled_from([r.value for r in StopReason]))),
    }


@st.composite
def any_case(draw: st.DrawFn) -> Case:
    in_place = draw(maybe_bool)
    nephrectomy = None if in_place else draw(st.one_of(st.none(), dates))
    data: dict[str, Any] = {
        "sex": draw(st.one_of(st.none(), st.sampled_from([s.value for s in Sex]))),
        "birth_date": draw(st.one_of(st.none(), st.dates(date(1930, 1, 1), date(2005, 1, 1)))),
        "diagnosis": {
            "date": draw(st.one_of(st.none(), dates)),
            "histology": draw(st.one_of(st.none(), st.sampled_from([h.value for h in Histology]))),
            "sarcomatoid": draw(maybe_bool),
            "metastasis_date": draw(st.one_of(st.none(), dates)),
        },
        "germline": {
            "tested": draw(maybe_bool),
            "pathogenic_variants": draw(
                st.lists(st.sampled_from([g.value for g in Gene]), max_size=2)
            ),
            "family_history_of_rcc": draw(maybe_bool),
            "bilateral_or_multifocal": draw(maybe_bool),
        },
        "performance": draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {
                        "kps": st.one_of(st.none(), st.integers(0, 10).map(lambda k: k * 10)),
                        "ecog": st.one_of(st.none(), st.integers(0, 5)),
                    }
                ),
            )
        ),
        "labs": {field: draw(measurements(field)) for field in UNITS},
        "primary_tumour": {
            "in_place": in_place,
            "nephrectomy_date": nephrectomy,
            "resectable": draw(maybe_bool),
            "bleeding": draw(maybe_bool),
            "pain": draw(maybe_bool),
            "paraneoplastic_syndrome": draw(maybe_bool),
            "renal_share_of_burden": draw(
                st.one_of(st.none(), st.sampled_from([r.value for r in RenalShare]))
            ),
            "contralateral_kidney_normal": draw(maybe_bool),
        },
        "disease": {
            "metastases": draw(
                st.lists(
                    st.fixed_dictionaries(
                        {
                            "site": st.sampled_from([s.value for s in Site]),
                            "lesions": st.one_of(st.none(), st.integers(0, 12)),
                            "resectable": maybe_bool,
                            "painful": maybe_bool,
                            "treated": maybe_bool,
                            "progressing": maybe_bool,
                        }
                    ),
                    max_size=4,
                )
            ),
            "metastases_recorded": draw(maybe_bool),
            "spinal_cord_compression": draw(maybe_bool),
            "symptomatic_metastases": draw(maybe_bool),
            "rapidly_progressing": draw(maybe_bool),
            "all_sites_treatable_locally": draw(maybe_bool),
            "no_evidence_of_disease": draw(maybe_bool),
            "complete_resection_date": draw(st.one_of(st.none(), dates)),
            "oligoprogression": draw(maybe_bool),
        },
        "prior_therapies": draw(st.lists(therapies(), max_size=3)),
        "proposed_therapy": draw(
            st.one_of(
                st.none(),
                st.fixed_dictionaries(
                    {
                        "agents": st.lists(st.sampled_from(AGENT_NAMES), min_size=1, max_size=3),
                        "planned_start": st.one_of(st.none(), dates),
                    }
                ),
            )
        ),
        "comorbidities": {
            name: draw(maybe_bool)
            for name, spec in Comorbidities.model_fields.items()
            if spec.annotation == bool | None
        },
    }
    return Case.model_validate(data)


def _check_reasons(reasons: tuple[Reason, ...], where: str) -> None:
    assert reasons, f"{where}: a recommendation without a reason"
    for reason in reasons:
        assert reason.sources, f"{where}: reason {reason.rule!r} cites no source"
        unknown = set(reason.sources) - set(KB.sources)
        assert not unknown, f"{where}: unknown source ids {unknown}"


def _check_sources(result: Assessment) -> None:
    therapy = result.systemic_therapy
    for option in therapy.options:
        assert option.sources and set(option.sources) <= set(KB.sources), option.regimen
        _check_reasons(option.reasons, f"option {option.regimen}")
    for excluded in therapy.excluded:
        _check_reasons((excluded.reason,), f"excluded {excluded.regimen}")
    if therapy.reasons:
        _check_reasons(therapy.reasons, "systemic therapy")
    _check_reasons(result.cytoreductive_nephrectomy.reasons, "cytoreductive nephrectomy")
    _check_reasons(result.metastasectomy.reasons, "metastasectomy")
    _check_reasons(result.metastasectomy.adjuvant_pembrolizumab.reasons, "adjuvant")
    for decision in (result.active_surveillance, result.clinical_trial, result.genetics):
        _check_reasons(decision.reasons, decision.recommendation)
    for measure in result.local_therapy:
        _check_reasons(measure.reasons, f"local measure {measure.id}")
    for warning in result.warnings:
        if warning.rule is not None:
            assert warning.sources, f"warning {warning.code} ({warning.rule}) cites no source"
            assert set(warning.sources) <= set(KB.sources), warning
    for model in (result.imdc, result.mskcc):
        assert model.sources and set(model.sources) <= set(KB.sources)


# --- 4. every recommendation cites a source that resolves -----------------------------------------


@SOME
@given(any_case())
def test_every_recommendation_cites_a_resolvable_source(case: Case) -> None:
    _check_sources(assess(case, KB, ON))


# --- 5. assess never raises for a valid Case ------------------------------------------------------


@FEW
@given(any_case(), st.one_of(st.just(ON), dates))
def test_assess_never_raises(case: Case, on: date) -> None:
    result = assess(case, KB, on)
    for model in (result.imdc, result.mskcc):
        assert model.possible_groups
        assert model.risk_group in (None, *model.possible_groups)
        assert model.factor_count_min <= model.factor_count_max
        assert len(model.missing) == sum(f.status == "unknown" for f in model.factors)
    therapy = result.systemic_therapy
    # Courses of one regimen (holds, maintenance) share a line, so the line is at most one
    # more than the therapies started; each started course counts at most once.
    started = [t for t in case.metastatic_prior_therapies if not (t.start and t.start > on)]
    assert 1 <= therapy.line <= 1 + len(started)
    if not started:
        assert therapy.line == 1
    assert result.cytoreductive_nephrectomy.recommendation in {
        "consider-upfront",
        "consider-deferred",
        "not-recommended",
        "not-applicable",
        "uncertain",
    }
    assert result.metastasectomy.recommendation in {
        "consider",
        "not-recommended",
        "not-applicable",
        "uncertain",
    }


@SOME
@given(any_case())
def test_unusable_lab_data_is_never_silently_normal(case: Case) -> None:
    # A lab the baseline could not use (bad unit, implausible, stale) leaves its factor unknown.
    result = assess(case, KB, LAB_DAY)
    unusable = {
        w.message.split()[0].rstrip(":")
        for w in result.warnings
        if w.code == "data-quality" and w.severity == "warning"
    }
    for model in (result.imdc, result.mskcc):
        for f in model.factors:
            if f.name in {"hemoglobin", "neutrophils", "platelets", "ldh"} & unusable:
                assert f.status == "unknown", (f, unusable)
