"""``rccnav cohort ...``: assess, report on, compare and synthesise whole cohorts."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rccnav.adapters.errors import InputError

if TYPE_CHECKING:
    from rccnav.adapters.cli import Commands


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


# ------------------------------------------------------------------ handlers


def _synth(args: argparse.Namespace) -> int:
    from rccnav.adapters.cohort.synth import write_export

    counts = write_export(
        args.out, args.patients, args.seed, shared_medications=args.shared_medications
    )
    total = sum(counts.values())
    _say(f"wrote {args.patients} synthetic patients ({total} resources) to {args.out}")
    return 0


def _assess(args: argparse.Namespace) -> int:
    from rccnav.adapters.cohort.patient import Options, knowledge_base

    if args.kb is not None:
        try:
            knowledge_base(args.kb)
        except Exception as exc:
            raise InputError(f"not a usable knowledge base: {exc}", where="--kb") from None
    options = Options(
        on=args.on, at_first_line_start=args.at == "first-line-start", kb_path=args.kb
    )
    if args.engine == "spark":
        try:
            from rccnav.adapters.cohort.engine_spark import run_spark
        except ImportError:
            raise InputError(
                "PySpark is not installed (pip install 'rccnav[cohort]')", where="--engine"
            ) from None
        summary = run_spark(args.input, args.out, options, args.master)
    else:
        from rccnav.adapters.cohort.engine_local import run_local

        workers = args.workers or min(2, os.cpu_count() or 1)
        summary = run_local(args.input, args.out, options, workers)
    rate = summary.patients / summary.seconds if summary.seconds else 0.0
    unrouted = sum(summary.unrouted.values())
    shared = (
        f" ({summary.shared_attached} copies of shared Medications were read with the "
        "patients whose records reference them)"
        if summary.shared_attached
        else " and were not used"
    )
    _say(
        f"{summary.patients} patients: {summary.assessed} assessed, {summary.unusable} "
        f"unusable, {summary.errors} errors ({summary.seconds:.1f} s, {rate:.0f} patients/s); "
        f"{unrouted} resources belong to no patient{shared}; "
        f"rows in {args.out / 'patients.parquet'} and patients.csv"
    )
    return 1 if summary.errors else 0


def _report(args: argparse.Namespace) -> int:
    from rccnav.adapters.cohort.report import write_report

    write_report(args.dir, args.output, feedback=args.feedback)
    _say(f"wrote {args.output}")
    return 0


def _diff(args: argparse.Namespace) -> int:
    from rccnav.adapters.cohort.diff import diff_text

    sys.stdout.write(diff_text(args.before, args.after, args.format))
    return 0


def _export(args: argparse.Namespace) -> int:
    from rccnav.adapters.cohort.export import run_export

    files = run_export(
        args.fhir_server,
        args.out,
        client_id=args.client_id,
        key_path=args.private_key,
        key_id=args.key_id,
        token_url=args.token_url,
        scope=args.scope,
        timeout=args.timeout,
    )
    _say(f"downloaded {len(files)} files to {args.out}")
    return 0


# -------------------------------------------------------------------- parser


def add_subcommands(commands: Commands) -> None:
    cohort = commands.add_parser(
        "cohort",
        help="whole cohorts from a FHIR Bulk Data export: assess, report, diff, synth",
        description="Cohort analytics over a FHIR Bulk Data export (one NDJSON file per "
        "resource type and its manifest.json).",
    )
    sub = cohort.add_subparsers(
        dest="cohort_command", required=True, metavar="{assess,report,diff,export,synth}"
    )

    a = sub.add_parser("assess", help="assess every patient of an export, one row each")
    a.add_argument("input", type=Path, metavar="INPUT", help="Bulk Data export folder")
    a.add_argument("--out", type=Path, required=True, metavar="DIR")
    when = a.add_mutually_exclusive_group()
    when.add_argument(
        "--on",
        type=_iso_date,
        metavar="YYYY-MM-DD",
        help="assess everyone as of this date (default today)",
    )
    when.add_argument(
        "--at",
        choices=("first-line-start",),
        help="assess each patient the day before the first line of "
        "metastatic therapy started (the decision point)",
    )
    a.add_argument("--engine", choices=("local", "spark"), default="local")
    a.add_argument(
        "--master",
        default="local[*]",
        metavar="URL",
        help="Spark master (with --engine spark; default local[*])",
    )
    a.add_argument(
        "--workers",
        type=_count,
        metavar="N",
        help="worker processes for the local engine (default 2)",
    )
    a.add_argument("--kb", type=Path, metavar="PATH", help="knowledge base folder to use")
    a.set_defaults(handler=_assess)

    r = sub.add_parser("report", help="self-contained HTML report of an assessed cohort")
    r.add_argument("dir", type=Path, metavar="DIR", help="output folder of cohort assess")
    r.add_argument("--output", type=Path, required=True, metavar="FILE")
    r.add_argument(
        "--feedback",
        type=Path,
        metavar="DB",
        help="CDS Hooks feedback store (SQLite) for override reasons",
    )
    r.set_defaults(handler=_report)

    d = sub.add_parser("diff", help="patients whose recommendation differs between two runs")
    d.add_argument("before", type=Path, metavar="DIR_A", help="output folder of one run")
    d.add_argument("after", type=Path, metavar="DIR_B", help="output folder of the other")
    d.add_argument("--format", choices=("text", "csv"), default="text")
    d.set_defaults(handler=_diff)

    e = sub.add_parser("export", help="download a Bulk Data export ($export) from a FHIR server")
    e.add_argument("--fhir-server", required=True, metavar="URL", help="FHIR base URL")
    e.add_argument("--out", type=Path, required=True, metavar="DIR")
    e.add_argument("--client-id", metavar="ID", help="SMART Backend Services client id")
    e.add_argument(
        "--private-key",
        type=Path,
        metavar="PEM",
        help="private key that signs the client assertion (RSA or EC P-384)",
    )
    e.add_argument("--key-id", metavar="KID", help="kid of that key in the client's JWKS")
    e.add_argument(
        "--token-url",
        metavar="URL",
        help="token endpoint (default: from .well-known/smart-configuration)",
    )
    e.add_argument("--scope", default="system/*.read")
    e.add_argument(
        "--timeout",
        type=_count,
        default=3600,
        metavar="S",
        help="give up when the export is not ready after this many seconds",
    )
    e.set_defaults(handler=_export)

    s = sub.add_parser("synth", help="write a synthetic Bulk Data export (demo, tests)")
    s.add_argument("--patients", type=_count, required=True, metavar="N")
    s.add_argument("--seed", type=int, default=1, metavar="S")
    s.add_argument("--out", type=Path, required=True, metavar="DIR")
    s.add_argument(
        "--shared-medications",
        action="store_true",
        help="name each agent by medicationReference to a shared Medication "
        "(Medication.ndjson), as some servers export them",
    )
    s.set_defaults(handler=_synth)
