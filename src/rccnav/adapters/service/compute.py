"""Assessment off the event loop, each call within a time and CPU budget.

Reading the FHIR data, ``assess`` and building the cards are CPU-bound: run on the
event loop they would stall every other connection (``/healthz``, authentication,
other calls). They run instead in

- worker **processes** (``limits.assess_processes`` > 0, the default): each call
  gets a CPU budget enforced by the kernel (``RLIMIT_CPU``: the worker is
  interrupted when the call has used ``limits.assess_cpu_seconds`` of CPU, and
  killed if it does not stop), and an optional address-space cap
  (``limits.assess_memory_mb``); a worker that dies is replaced and the call is
  answered 503. A hostile input can then cost one worker, never the service; or
- worker **threads** (``assess_processes = 0``, for development and tests): the
  event loop stays responsive, but a thread cannot be stopped, so only the wall
  clock budget applies (the caller gets 503 when it runs out).

Either way the wall-clock budget ``limits.assess_timeout_seconds`` bounds how long
a caller waits. A job and its result are plain picklable data; errors come back
as a :class:`Refusal` (status and OperationOutcome), never as an exception that
would have to cross the process boundary.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import resource
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from anyio import CapacityLimiter

from rccnav.adapters.errors import InputError
from rccnav.adapters.service.cache import Answer
from rccnav.adapters.service.config import LimitsConfig
from rccnav.adapters.service.models import operation_outcome
from rccnav.core.assessment import GuidelineViewName
from rccnav.knowledge.model import KnowledgeBase

log = logging.getLogger("rccnav.service")


@dataclass(frozen=True)
class Refusal:
    """An answer other than 200: the HTTP status and its OperationOutcome."""

    status: int
    outcome: dict[str, Any]


@dataclass(frozen=True)
class OrderSpec:
    """What an order hook's cards need besides the assessment."""

    draft_ids: tuple[str, ...]
    patient_id: str


@dataclass(frozen=True)
class CardJob:
    """Cards for one hook call's gathered data (``raw`` is the collection Bundle)."""

    raw: bytes
    on: date
    lookback_days: int | None
    order: OrderSpec | None = None
    #: The same Bundle decoded, when the job runs in this process (never pickled).
    bundle: dict[str, Any] | None = None
    #: ``report_url`` from the service config: every card links to it.
    report_url: str | None = None


@dataclass(frozen=True)
class AssessJob:
    """``POST /api/assess``: a case file or FHIR document, as ``rccnav assess`` reads it."""

    raw: bytes
    on: date | None
    default_on: date
    lookback_days: int | None
    #: ``all`` (merged) or one guideline's view: ``nccn``, ``eau``, ``esmo``.
    guideline: GuidelineViewName = "all"


class BudgetExceeded(Exception):
    """The call used up its CPU budget (raised inside a worker process)."""


def card_answer(kb: KnowledgeBase, job: CardJob) -> Answer | Refusal:
    """Read the Bundle, assess, and build the hook's cards."""
    from rccnav.adapters.fhir.reader import read_fhir
    from rccnav.adapters.intake import assess_input
    from rccnav.adapters.service.cards import DraftOrder, order_cards, patient_view_cards

    bundle = job.bundle if job.bundle is not None else orjson.loads(job.raw)
    try:
        intake = read_fhir(
            bundle,
            name="CDS Hooks prefetch",
            on=job.on,
            lookback_days=job.lookback_days,
            kb=kb,
        )
    except InputError as exc:
        return Refusal(422, operation_outcome(str(exc), code="processing", expression=exc.where))
    assessment = assess_input(intake, kb, job.on, lookback_days=job.lookback_days)
    if job.order is None:
        return Answer.of(patient_view_cards(kb, assessment, report_url=job.report_url))
    case = intake.case
    cards = order_cards(
        kb,
        assessment,
        proposed=case.proposed_therapy.agents if case.proposed_therapy else (),
        drafts=[DraftOrder(f"MedicationRequest/{d}") for d in job.order.draft_ids],
        patient_id=job.order.patient_id,
        report_url=job.report_url,
    )
    return Answer.of(cards)


def assessment_document(kb: KnowledgeBase, job: AssessJob) -> bytes | Refusal:
    """What ``rccnav assess --format json`` prints for the body."""
    from rccnav.adapters.intake import assess_input, read_input
    from rccnav.adapters.serialize import assessment_to_json

    try:
        intake = read_input(
            job.raw,
            name="request body",
            on=job.on or job.default_on,
            lookback_days=job.lookback_days,
            kb=kb,
        )
        when = job.on or intake.case.assessment_date or job.default_on
        assessment = assess_input(
            intake, kb, when, lookback_days=job.lookback_days, guideline=job.guideline
        )
    except InputError as exc:
        return Refusal(400, operation_outcome(str(exc), expression=exc.where))
    document: bytes = assessment_to_json(assessment)
    return document


def _run(kb: KnowledgeBase, job: CardJob | AssessJob) -> Answer | bytes | Refusal:
    if isinstance(job, CardJob):
        return card_answer(kb, job)
    return assessment_document(kb, job)


# -- worker processes ------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _on_cpu_limit(signum: int, frame: Any) -> None:
    raise BudgetExceeded()


def _worker_start(kb_dir: str | None, memory_mb: int | None) -> None:
    """Initializer of each worker process: load the knowledge base once, set limits."""
    from rccnav.knowledge.loader import default_knowledge_base, load_knowledge_base

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when workers stop
    signal.signal(signal.SIGXCPU, _on_cpu_limit)
    kb = load_knowledge_base(Path(kb_dir)) if kb_dir else default_knowledge_base()
    _WORKER["kb"] = kb
    warm_up(kb)
    if memory_mb is not None:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _cpu_used() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _in_worker(job: CardJob | AssessJob, cpu_seconds: int) -> Answer | bytes | Refusal:
    """One job in a worker process, interrupted once it has used ``cpu_seconds`` of CPU.

    RLIMIT_CPU counts the process's total CPU time: the soft limit is set to what
    the worker used so far plus the budget; the kernel then sends SIGXCPU, turned
    into BudgetExceeded. (The hard limit is left alone: once lowered it cannot be
    raised again. A worker stuck in C code that never sees the signal is killed by
    the parent when the wall-clock budget runs out.)
    """
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = math.ceil(_cpu_used()) + cpu_seconds
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    try:
        return _run(_WORKER["kb"], job)
    except BudgetExceeded:
        return _over_budget(f"used more than its CPU budget of {cpu_seconds} s")
    except MemoryError:
        return _over_budget("needed more memory than its budget")
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def _over_budget(why: str) -> Refusal:
    return Refusal(
        503,
        operation_outcome(
            f"the assessment {why} (limits in the service configuration); the input is "
            "unusually large or complex",
            code="too-costly",
        ),
    )


def warm_up(kb: KnowledgeBase) -> None:
    """Build what the first call would otherwise build lazily (units, terminology, caches).

    One assessment of a small built-in FHIR Bundle runs the reader (UCUM parsing,
    terminology look-ups), ``assess`` and both card builders once.
    """
    patient = {"resourceType": "Patient", "id": "warm-up", "birthDate": "1960-01-01"}
    observations = [
        {
            "resourceType": "Observation",
            "id": f"warm-up-{code}",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "subject": {"reference": "Patient/warm-up"},
            "effectiveDateTime": "2026-01-01",
            "valueQuantity": {
                "value": value,
                "unit": unit,
                "system": "http://unitsofmeasure.org",
                "code": unit,
            },
        }
        for code, value, unit in (
            ("718-7", 12.0, "g/dL"),
            ("17861-6", 9.5, "mg/dL"),
            ("751-8", 4.0, "10*3/uL"),
            ("777-3", 250.0, "10*3/uL"),
            ("2532-0", 200.0, "U/L"),
            ("1751-7", 4.0, "g/dL"),
        )
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in (patient, *observations)],
    }
    raw = orjson.dumps(bundle)
    on = date(2026, 6, 1)
    card_answer(kb, CardJob(raw, on, None))
    card_answer(kb, CardJob(raw, on, None, OrderSpec(("warm-up-order",), "warm-up")))


class Assessor:
    """Runs jobs off the event loop (threads or processes) within their budgets."""

    def __init__(self, kb: KnowledgeBase, limits: LimitsConfig, kb_dir: str | None) -> None:
        self._kb = kb
        self._limits = limits
        self._kb_dir = kb_dir
        self._threads = CapacityLimiter(max(1, limits.assess_threads))
        self._pool: ProcessPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.replaced_pools = 0

    @property
    def uses_processes(self) -> bool:
        return self._limits.assess_processes > 0

    def start(self) -> None:
        """Start the worker processes now (they load the knowledge base before serving)."""
        if not self.uses_processes:
            return
        pool = self._ensure_pool()
        # Each worker runs its initializer (knowledge base, warm-up) before a job.
        futures = [pool.submit(os.getpid) for _ in range(self._limits.assess_processes)]
        for future in futures:
            future.result(timeout=120)

    def _ensure_pool(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                # forkserver: workers start from a clean process, not a fork of a
                # threaded server.
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(
                    max_workers=self._limits.assess_processes,
                    mp_context=context,
                    initializer=_worker_start,
                    initargs=(self._kb_dir, self._limits.assess_memory_mb),
                )
            return self._pool

    def _replace_pool(self, broken: ProcessPoolExecutor) -> None:
        with self._pool_lock:
            if self._pool is broken:
                self._pool = None
                self.replaced_pools += 1
        _kill(broken)

    def close(self) -> None:
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    async def run(self, job: CardJob | AssessJob) -> Answer | bytes | Refusal:
        timeout = self._limits.assess_timeout_seconds
        if not self.uses_processes:
            try:
                with anyio.fail_after(timeout):
                    return await anyio.to_thread.run_sync(
                        _run, self._kb, job, limiter=self._threads, abandon_on_cancel=True
                    )
            except TimeoutError:
                log.warning("assessment exceeded its %.1f s time budget", timeout)
                return _over_budget(f"took longer than its time budget of {timeout:g} s")
        if isinstance(job, CardJob) and job.bundle is not None:
            job = CardJob(job.raw, job.on, job.lookback_days, job.order, None, job.report_url)
        pool = self._ensure_pool()
        try:
            future: Future[Answer | bytes | Refusal] = pool.submit(
                _in_worker, job, self._limits.assess_cpu_seconds
            )
        except BrokenProcessPool:
            self._replace_pool(pool)
            return _over_budget("could not start: its worker process had stopped")
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            log.warning("assessment exceeded its %.1f s time budget; workers replaced", timeout)
            self._replace_pool(pool)
            return _over_budget(f"took longer than its time budget of {timeout:g} s")
        except BrokenProcessPool:
            log.warning("an assessment worker process died (CPU or memory limit); replaced")
            self._replace_pool(pool)
            return _over_budget("stopped its worker process (CPU or memory limit)")


def _kill(pool: ProcessPoolExecutor) -> None:
    """Stop a pool whose worker may be stuck: kill its processes, then shut it down."""
    processes = getattr(pool, "_processes", None) or {}
    for process in list(processes.values()):
        if process.is_alive():
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)
