"""The clinician web page: a FastAPI router over the one ``assess``.

``web_router(kb)`` is the page for a host application to mount behind its own
access control; ``create_web_app(kb, token)`` is the loopback app ``rccnav web``
runs. The page's test ids (``assessment-date``, ``file-input``, ``imdc-group``,
``mskcc-group``, ``preferred``, ``warnings``) are a contract: docs/web.md.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rccnav.adapters.web.app import create_web_app, web_router

__all__ = ["create_web_app", "web_router"]


def __getattr__(name: str) -> Any:
    # Imported on first use (PEP 562): registering the `web` and `report` commands must
    # not import FastAPI, which would triple the start-up of every other command.
    if name in __all__:
        return getattr(import_module("rccnav.adapters.web.app"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
