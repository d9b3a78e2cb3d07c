"""The ``rccnav`` command line.

Exit status: 0 success; 2 the input (file or flags) is unusable, with a message on
stderr that names the field; 1 an unexpected internal error (short message; the
traceback only with ``RCCNAV_DEBUG=1``). Subcommands register a handler with
``set_defaults(handler=fn)`` where ``fn(args) -> int``; other adapters (the HTTP
service) add theirs through ``add_subcommands(subparsers)``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeAlias

import orjson
from pydantic import ValidationError

from rccnav import __version__
from rccnav.adapters.casefile import iso_date
from rccnav.adapters.errors import InputError
from rccnav.adapters.intake import assess_input, read_input
from rccnav.adapters.limits import read_path, read_stream
from rccnav.adapters.render.document import Section, risk_section
from rccnav.adapters.render.text import render_sections, render_text
from rccnav.adapters.serialize import assessment_to_json, schema_text
from rccnav.core.assessment import Factor, FactorStatus
from rccnav.core.case import Case, Diagnosis, PerformanceStatus
from rccnav.core.prognosis.factors import performance_status, time_to_treatment
from rccnav.core.prognosis.risk import classify
from rccnav.knowledge.loader import (
    KnowledgeBaseError,
    default_knowledge_base,
    load_knowledge_base,
)
from rccnav.knowledge.model import GUIDELINE_VIEWS, KnowledgeBase

Handler = Callable[[argparse.Namespace], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

PROG = "rccnav"


# ------------------------------------------------------------------- helpers


def _iso_date(text: str) -> date:
    try:
        return iso_date(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def _positive(text: str) -> int:
    value = _non_negative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _write_json(data: Any) -> None:
    _write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def _use_color() -> bool:
    # https://no-color.org: any non-empty NO_COLOR disables colour.
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def _read_source(path: str) -> tuple[bytes, str]:
    if path == "-":
        return read_stream(sys.stdin.buffer, "<stdin>"), "<stdin>"
    return read_path(path), path


def _knowledge_base(data_dir: Path | None = None) -> KnowledgeBase:
    return load_knowledge_base(data_dir) if data_dir else default_knowledge_base()


# -------------------------------------------------------------------- assess


def _assess(args: argparse.Namespace) -> int:
    raw, name = _read_source(args.file)
    today = date.today()
    # The file is read before the knowledge base loads, so a bad file is reported as
    # such even if the knowledge base is being edited.
    intake = read_input(raw, name=name, on=args.on or today, lookback_days=args.lookback_days)
    kb = _knowledge_base()
    # --on wins; a case file may name its own assessment date; else today.
    on = args.on or intake.case.assessment_date or today
    assessment = assess_input(
        intake, kb, on, lookback_days=args.lookback_days, guideline=args.guideline
    )
    if args.format == "json":
        _write(assessment_to_json(assessment, indent=True).decode() + "\n")
    elif args.format == "markdown":
        from rccnav.adapters.render.markdown import render_markdown  # only this format

        _write(render_markdown(assessment))
    elif args.format == "fhir":
        try:
            from rccnav.adapters.fhir.writer import assessment_to_bundle
        except ImportError:
            raise InputError("FHIR output is not available in this installation") from None
        _write_json(assessment_to_bundle(assessment, intake))
    else:
        _write(render_text(assessment, color=_use_color()))
    return 0


# ---------------------------------------------------------------------- risk


def _flag_factor(name: str, value: bool | None, flag: str, meaning: str) -> Factor:
    if value is None:
        return Factor(name, "unknown", f"not given (use --{flag}-... to set it)", threshold=meaning)
    state: FactorStatus = "present" if value else "absent"
    said = "yes" if value else "no"
    return Factor(name, state, f"given on the command line: {meaning}: {said}", threshold=meaning)


def _performance_and_time(
    args: argparse.Namespace, kb: KnowledgeBase, on: date
) -> tuple[Factor, Factor]:
    """Score these two factors with the core's own functions, via a minimal Case."""
    ps_flag = "--kps" if args.kps is not None else "--ecog"
    timing_flag = "--diagnosed" if args.diagnosed is not None else "--diagnosis-to-treatment-days"
    diagnosed = args.diagnosed
    if args.diagnosis_to_treatment_days is not None:
        diagnosed = on - timedelta(days=args.diagnosis_to_treatment_days)
    try:
        performance = (
            None
            if args.kps is None and args.ecog is None
            else PerformanceStatus(kps=args.kps, ecog=args.ecog)
        )
        case = Case(performance=performance, diagnosis=Diagnosis(date=diagnosed))
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise InputError(problems, where=ps_flag) from None
    # The core names case-file fields as sources; here the evidence came from flags.
    ps = performance_status(case, kb)
    time = time_to_treatment(case, on, kb)
    return (
        dataclasses.replace(ps, source=ps_flag if ps.status != "unknown" else None),
        dataclasses.replace(time, source=timing_flag if time.status != "unknown" else None),
    )


def _risk(args: argparse.Namespace) -> int:
    kb = _knowledge_base()
    on = args.on or date.today()
    if args.diagnosed is not None and args.diagnosed > on:
        raise InputError(f"diagnosis date {args.diagnosed} is after {on}", where="--diagnosed")
    performance, time = _performance_and_time(args, kb, on)
    hemoglobin = _flag_factor("hemoglobin", args.hb, "hb", "hemoglobin < LLN")
    neutrophils = _flag_factor("neutrophils", args.anc, "anc", "neutrophils > ULN")
    platelets = _flag_factor("platelets", args.plt, "plt", "platelets > ULN")
    imdc_calcium = _flag_factor("calcium", args.ca, "ca", "corrected calcium > ULN")
    # MSKCC's calcium cut-off is a fixed 10 mg/dL, not the lab's ULN (Motzer 2002), so
    # --ca-high does not answer it: it has its own flags and is otherwise unknown.
    mskcc_calcium = _flag_factor(
        "calcium", args.mskcc_ca, "mskcc-ca", "corrected calcium > 10 mg/dL"
    )
    ldh = _flag_factor("ldh", args.ldh, "ldh", "LDH > 1.5 x ULN")
    setting = "first-line" if args.line == 1 else "second-line"
    imdc = classify(
        "imdc",
        (performance, time, hemoglobin, imdc_calcium, neutrophils, platelets),
        kb,
        "prognosis.imdc",
        setting,
    )
    mskcc = classify(
        "mskcc",
        (performance, time, hemoglobin, mskcc_calcium, ldh),
        kb,
        "prognosis.mskcc",
        "first-line",
    )
    if args.format == "json":
        _write_json(
            {"on": on, "imdc": imdc, "mskcc": mskcc, "knowledge_base": {"version": kb.version}}
        )
        return 0
    sections = [
        risk_section(imdc, "IMDC (Heng)"),
        risk_section(mskcc, "MSKCC (Motzer)"),
        Section("Knowledge base").add(
            f"Version {kb.version}, content checksum {kb.checksum[:12]}."
        ),
    ]
    _write(render_sections(f"rccnav risk as of {on.isoformat()}", sections, color=_use_color()))
    return 0


def _add_tristate(parser: argparse.ArgumentParser, dest: str, yes: str, no: str, what: str) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(f"--{yes}", dest=dest, action="store_const", const=True, help=f"{what}: yes")
    group.add_argument(f"--{no}", dest=dest, action="store_const", const=False, help=f"{what}: no")
    parser.set_defaults(**{dest: None})


# ------------------------------------------------------------ knowledge base


def _kb_check(args: argparse.Namespace) -> int:
    try:
        kb = _knowledge_base(args.data_dir)
    except KnowledgeBaseError as exc:
        _write(f"knowledge base check FAILED\n{exc}\n")
        return 1
    counts = (
        f"{len(kb.sources)} sources, {len(kb.agents)} agents, {len(kb.regimens)} regimens, "
        f"{len(kb.therapy_tables)} therapy tables, {len(kb.rules)} rules"
    )
    _write(f"knowledge base {kb.version} OK (checksum {kb.checksum[:12]}): {counts}\n")
    return 0


def _kb_report(args: argparse.Namespace) -> int:
    kb = _knowledge_base(args.data_dir)
    from rccnav.knowledge.report import render_report  # a reviewer's command, not a clinic's

    text = render_report(kb, args.format)
    if args.output is None:
        _write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


def _schema(args: argparse.Namespace) -> int:
    _write(schema_text(args.which).decode())
    return 0


# -------------------------------------------------------------------- parser


def _assess_parser(commands: Commands) -> None:
    p = commands.add_parser(
        "assess",
        help="assess one patient from a case file or FHIR R4 Bundle",
        description="Assess one patient. FILE is a case file (JSON or YAML), a FHIR R4 "
        "Bundle or resource, or NDJSON; '-' reads standard input.",
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--on",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="assessment date (default: the case file's assessment_date, else today); "
        "data dated after it is ignored",
    )
    p.add_argument(
        "--format",
        choices=("text", "json", "markdown", "fhir"),
        default="text",
        help="text: readable report for the terminal (default); json: the Assessment as JSON "
        "(schema: `rccnav schema assessment`); markdown: the report as Markdown, for notes "
        "and tumour boards; fhir: a FHIR R4 Bundle (RiskAssessment, RequestGroup of proposed "
        "orders, DetectedIssue, Provenance)",
    )
    p.add_argument(
        "--lookback-days",
        type=_positive,
        metavar="N",
        help="oldest lab result to use, in days before --on (default: knowledge base rule)",
    )
    p.add_argument(
        "--guideline",
        type=str.lower,
        choices=GUIDELINE_VIEWS,
        default="all",
        help="whose listing the systemic-therapy options follow: all (NCCN, EAU and ESMO "
        "merged; default), nccn, eau or esmo; every option still shows all three positions",
    )
    p.set_defaults(handler=_assess)


def _risk_parser(commands: Commands) -> None:
    p = commands.add_parser(
        "risk",
        help="IMDC and MSKCC risk from flags (omitted flags are unknown)",
        description="Quick IMDC/MSKCC calculator. Each factor flag is optional: an omitted "
        "factor is unknown, never normal, and the result lists every group still possible.",
    )
    ps = p.add_mutually_exclusive_group()
    ps.add_argument("--kps", type=_non_negative, metavar="N", help="Karnofsky score (0-100)")
    ps.add_argument("--ecog", type=_non_negative, metavar="N", help="ECOG score (0-5)")
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--diagnosis-to-treatment-days", type=_non_negative, metavar="N")
    timing.add_argument("--diagnosed", type=_iso_date, metavar="YYYY-MM-DD")
    p.add_argument(
        "--on", type=_iso_date, metavar="YYYY-MM-DD", help="treatment date (default today)"
    )
    p.add_argument("--line", type=_positive, default=1, help="line of therapy (survival figures)")
    _add_tristate(p, "hb", "hb-low", "hb-normal", "hemoglobin below the lab's LLN")
    _add_tristate(p, "ca", "ca-high", "ca-normal", "corrected calcium above the lab's ULN (IMDC)")
    _add_tristate(
        p, "mskcc_ca", "mskcc-ca-high", "mskcc-ca-normal", "corrected calcium > 10 mg/dL (MSKCC)"
    )
    _add_tristate(p, "anc", "anc-high", "anc-normal", "neutrophils above the lab's ULN")
    _add_tristate(p, "plt", "plt-high", "plt-normal", "platelets above the lab's ULN")
    _add_tristate(p, "ldh", "ldh-high", "ldh-normal", "LDH above 1.5 x the lab's ULN (MSKCC)")
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: readable result (default); json: the IMDC and MSKCC results as JSON",
    )
    p.set_defaults(handler=_risk)


def _kb_parser(commands: Commands) -> None:
    kb = commands.add_parser("kb", help="knowledge base: integrity check and review report")
    kb_commands = kb.add_subparsers(dest="kb_command", metavar="{check,report}", required=True)
    check = kb_commands.add_parser("check", help="load the knowledge base and check its integrity")
    check.add_argument("--data-dir", type=Path, help="check a knowledge base in this directory")
    check.set_defaults(handler=_kb_check)
    report = kb_commands.add_parser(
        "report", help="the whole knowledge base as a document for clinical sign-off"
    )
    report.add_argument(
        "--format",
        choices=("markdown", "html"),
        default="markdown",
        help="markdown (default), or html: the same document as a web page",
    )
    report.add_argument("--output", type=Path, metavar="FILE", help="write here, not to stdout")
    report.add_argument(
        "--data-dir", type=Path, help="report on a knowledge base in this directory"
    )
    report.set_defaults(handler=_kb_report)


def _schema_parser(commands: Commands) -> None:
    p = commands.add_parser("schema", help="print the JSON Schema of the case file or assessment")
    p.add_argument("which", nargs="?", choices=("case", "assessment"), default="assessment")
    p.set_defaults(handler=_schema)


def _service_subcommands(commands: Commands) -> None:
    try:
        from rccnav.adapters.service.cli import add_subcommands
    except ImportError:
        return  # the service extra is not installed: no `serve`
    add_subcommands(commands)


def _web_subcommands(commands: Commands) -> None:
    try:
        from rccnav.adapters.web.cli import add_subcommands
    except ImportError:
        return  # the web extra is not installed: no `web` or `report`
    add_subcommands(commands)


def _cohort_subcommands(commands: Commands) -> None:
    try:
        from rccnav.adapters.cohort.cli import add_subcommands
    except ImportError:
        return  # the cohort extra is not installed: no `cohort`
    add_subcommands(commands)


# Commands of this module. A command line that starts with one of them does not need
# the optional adapters' subcommands, whose registration is about a tenth of the
# start-up of a whole `rccnav assess`.
_OWN_COMMANDS = frozenset({"assess", "risk", "kb", "schema"})


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line, or, when ``argv`` names one of this module's commands,
    the parser that command needs (its help, usage and errors are the same)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Guideline-based decision support for metastatic renal cell carcinoma. "
        "Decision support only: not a substitute for clinical judgement.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    subcommands: tuple[Callable[[Commands], None], ...] = (
        _assess_parser,
        _risk_parser,
        _kb_parser,
        _schema_parser,
    )
    if not argv or argv[0] not in _OWN_COMMANDS:
        subcommands += (_service_subcommands, _web_subcommands, _cohort_subcommands)
    for add in subcommands:
        add(commands)
    return parser


def _fail(message: str) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")


def _run(handler: Handler, args: argparse.Namespace) -> int:
    try:
        return handler(args)
    except InputError as exc:
        _fail(str(exc))
        return 2
    except BrokenPipeError:
        # The reader (e.g. `| head`) went away; nothing more to say.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("RCCNAV_DEBUG") == "1":
            traceback.print_exc()
        else:
            # The exception text may quote patient data, so only its type is shown.
            _fail(
                f"internal error ({type(exc).__name__}); please report it. "
                "Set RCCNAV_DEBUG=1 to see the traceback."
            )
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    handler = getattr(args, "handler", None) or getattr(args, "func", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    result = _run(handler, args)
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
