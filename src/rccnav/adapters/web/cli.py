"""``rccnav web`` (the clinician page on this computer) and ``rccnav report``."""

from __future__ import annotations

import argparse
import importlib.util
import socket
import sys
import threading
import webbrowser
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from rccnav.adapters.errors import InputError
from rccnav.adapters.intake import assess_input, read_input
from rccnav.knowledge.loader import default_knowledge_base

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]

# Names that mean this computer only. Anything else is refused: until the page has
# the clinician's own login (SMART App Launch), no command serves it on a network.
LOOPBACK = {"127.0.0.1": "127.0.0.1", "localhost": "127.0.0.1", "::1": "::1"}


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date in YYYY-MM-DD form") from None


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        raise InputError(
            f"cannot listen on {address}:{port} ({exc.strerror or exc}); choose another --port",
            where="--port",
        ) from None
    sock.listen(64)
    return sock


def _require(*modules: str) -> None:
    """A clear message, not a traceback, when the ``web`` extra is not installed."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"this command needs {', '.join(missing)}: pip install 'rccnav[web]'")


def _web(args: argparse.Namespace) -> int:
    _require("jinja2", "uvicorn", "fastapi")
    import uvicorn

    from rccnav.adapters.web.app import create_web_app, new_token
    from rccnav.adapters.web.views import Views
    from rccnav.core.assess import assess
    from rccnav.core.case import Case

    address = LOOPBACK.get(args.host)
    if address is None:
        raise InputError(
            f"refusing to serve the page on {args.host!r}: it listens on this computer only "
            "(127.0.0.1, localhost or ::1) until it has the clinician's own login",
            where="--host",
        )
    sock = _bind(address, args.port)
    kb = default_knowledge_base()
    # Render once before announcing the URL: the first page then needs no warm-up.
    Views(kb).page(assess(Case(), kb, date.today()), date.today())
    token = new_token()
    shown = f"[{address}]" if ":" in address else address
    url = f"http://{shown}:{sock.getsockname()[1]}/?token={token}"
    sys.stdout.write(url + "\n")
    sys.stdout.write("rccnav web: serving the clinician page on this computer only; Ctrl+C stops\n")
    sys.stdout.flush()
    if not args.no_browser:
        threading.Timer(0.3, webbrowser.open, args=(url,)).start()
    config = uvicorn.Config(
        create_web_app(kb, token), log_level="warning", access_log=False, lifespan="off"
    )
    uvicorn.Server(config).run(sockets=[sock])
    return 0


def _report(args: argparse.Namespace) -> int:
    _require("jinja2")
    from rccnav.adapters.web.pdf import PdfError, html_to_pdf
    from rccnav.adapters.web.views import Views

    output: Path = args.output
    kind = output.suffix.lower()
    if kind not in (".pdf", ".html", ".htm"):
        raise InputError("must end in .pdf or .html", where=str(output))
    try:
        raw = Path(args.file).read_bytes() if args.file != "-" else sys.stdin.buffer.read()
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", where=args.file) from None
    today = date.today()
    intake = read_input(raw, name=args.file, on=args.on or today)
    kb = default_knowledge_base()
    on = args.on or intake.case.assessment_date or today
    html = Views(kb).report(assess_input(intake, kb, on), today)
    try:
        if kind == ".pdf":
            html_to_pdf(html, output)
        else:
            output.write_text(html, encoding="utf-8")
    except PdfError as exc:
        raise InputError(str(exc), where=str(output)) from None
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", where=str(output)) from None
    sys.stdout.write(f"{output}\n")
    return 0


def add_subcommands(commands: Commands) -> None:
    web = commands.add_parser(
        "web",
        help="the clinician page in your browser (this computer only)",
        description="Serve the clinician page on 127.0.0.1 and open it in the browser. The "
        "first output line is the URL, with an access token.",
    )
    web.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0: any free)")
    web.add_argument(
        "--host", default="127.0.0.1", help="loopback address only: 127.0.0.1, localhost or ::1"
    )
    web.add_argument("--no-browser", action="store_true", help="do not open a browser")
    web.set_defaults(handler=_web)
    report = commands.add_parser(
        "report",
        help="one-page tumour-board summary as PDF or HTML",
        description="Assess FILE (case file, FHIR Bundle or NDJSON) and write the one-page "
        "tumour-board summary the page prints. PDF needs Chromium.",
    )
    report.add_argument("file", metavar="FILE")
    report.add_argument("--on", type=_iso_date, metavar="YYYY-MM-DD", help="assessment date")
    report.add_argument("--output", type=Path, required=True, metavar="summary.pdf|summary.html")
    report.set_defaults(handler=_report)
