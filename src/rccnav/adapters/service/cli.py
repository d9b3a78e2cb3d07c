"""``rccnav serve`` and ``rccnav feedback report``.

The main CLI (``rccnav.adapters.cli``) calls :func:`add_subcommands` when the
service extra is installed. Handlers follow its convention: ``handler(args) -> int``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rccnav.adapters.errors import InputError

if TYPE_CHECKING:
    from rccnav.adapters.service.config import ServiceConfig

# The top-level CLI registers `serve` only when the service extra is installed; the
# configuration models are imported when a service command runs, so registering the
# command costs every other command nothing.
if importlib.util.find_spec("uvicorn") is None or importlib.util.find_spec("fastapi") is None:
    raise ImportError("the service extra (rccnav[service]) is not installed")


def _config(args: argparse.Namespace) -> ServiceConfig:
    from rccnav.adapters.service.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    updates: dict[str, Any] = {}
    if getattr(args, "host", None):
        updates["host"] = args.host
    if getattr(args, "port", None) is not None:
        updates["port"] = args.port
    if getattr(args, "insecure_no_auth", False):
        updates["insecure_no_auth"] = True
    return config.model_copy(update=updates) if updates else config


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rccnav.adapters.service.app import INSECURE_WARNING, configure_logging, create_app
    from rccnav.adapters.service.config import ConfigError, load_config  # noqa: F401

    config = _config(args)
    configure_logging(config.log_level)
    if config.insecure_no_auth:
        sys.stderr.write(f"WARNING: {INSECURE_WARNING}\n")
    workers = getattr(args, "workers", 1) or 1
    if workers > 1:
        _serve_workers(config, workers)
        return 0
    try:
        app = create_app(config)
    except ConfigError as exc:
        raise InputError(str(exc)) from None
    # The knowledge base, terminology and modules live as long as the process: move them
    # out of the collector's reach so full collections stay short under load (tail latency).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, **uvicorn_options(config))
    return 0


def uvicorn_options(config: ServiceConfig) -> dict[str, Any]:
    """How uvicorn runs the service (also used by the tests' loopback server)."""
    from rccnav.adapters.service.protocol import HeadDeadlineProtocol

    return {
        "host": config.host,
        "port": config.port,
        "log_level": config.log_level.lower(),
        "access_log": False,  # our own access log never carries query strings
        "limit_concurrency": config.limits.max_connections,
        # Idle keep-alive, and the time a client has to send a request head.
        "timeout_keep_alive": config.limits.keep_alive_seconds,
        "http": HeadDeadlineProtocol,
        "h11_max_incomplete_event_size": 64 * 1024,
        "server_header": False,
    }


def _serve_workers(config: ServiceConfig, workers: int) -> None:
    from rccnav.adapters.service.config import ConfigError, load_config  # noqa: F401

    """Several worker processes on one port; they must share the jti replay store."""
    import os

    import uvicorn

    from rccnav.adapters.service.app import CONFIG_ENVIRONMENT, check_settings, check_storage

    try:
        check_settings(config)
        check_storage(config)
    except ConfigError as exc:
        raise InputError(str(exc)) from None

    if not config.insecure_no_auth and config.auth.replay_db is None:
        raise InputError(
            f"--workers {workers} needs auth.replay_db in the configuration: an in-memory "
            "replay cache is per process, so another worker would accept a replayed token"
        )
    os.environ[CONFIG_ENVIRONMENT] = config.model_dump_json()
    uvicorn.run(
        "rccnav.adapters.service.app:app_from_environment",
        factory=True,
        workers=workers,
        **uvicorn_options(config),
    )


def _feedback_report(args: argparse.Namespace) -> int:
    import orjson

    from rccnav.adapters.service.feedback import (
        FeedbackStore,
        StorageError,
        format_report,
        report_to_dict,
    )

    config = _config(args)
    if not config.feedback_db.exists():
        raise InputError("no feedback database yet", where=str(config.feedback_db))
    try:
        store = FeedbackStore(config.feedback_db)
        try:
            report = store.report()
        finally:
            store.close()
    except StorageError as exc:
        raise InputError(str(exc)) from None
    if args.format == "json":
        sys.stdout.write(orjson.dumps(report_to_dict(report), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_report(report))
    return 0


def _config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="service settings (.toml, .yaml or .json)"
    )


def add_subcommands(subparsers: Any) -> None:
    """Register ``serve`` and ``feedback`` on the main CLI's subparsers."""
    serve = subparsers.add_parser(
        "serve",
        help="run the CDS Hooks service and JSON API",
        description="Serve CDS Hooks 2.0 (patient-view, order-select, order-sign) and the "
        "JSON API. JWT authentication of CDS Clients is required unless --insecure-no-auth.",
    )
    serve.add_argument("--host", help="address to listen on (default: config, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: config, else 8080)")
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); more than one needs auth.replay_db",
    )
    _config_argument(serve)
    serve.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="DEVELOPMENT ONLY: accept calls without a JWT (warned at start-up and in every "
        "request's log line)",
    )
    serve.set_defaults(handler=_serve)

    feedback = subparsers.add_parser("feedback", help="CDS Hooks card feedback")
    commands = feedback.add_subparsers(dest="feedback_command", metavar="{report}", required=True)
    report = commands.add_parser("report", help="acceptance and override reasons by card type")
    _config_argument(report)
    report.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text: a readable table (default); json: the same figures as JSON",
    )
    report.set_defaults(handler=_feedback_report)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m rccnav.adapters.service.cli``)."""
    parser = argparse.ArgumentParser(prog="rccnav")
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
    except InputError as exc:
        sys.stderr.write(f"rccnav: error: {exc}\n")
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
