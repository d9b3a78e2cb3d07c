"""The clinician web page: a FastAPI router over the one ``assess``.

``web_router(kb)`` is the page for a host application to mount behind its own
access control; ``create_web_app(kb, token)`` is the loopback app ``rccnav web``
runs. The page's test ids (``assessment-date``, ``file-input``, ``imdc-group``,
``mskcc-group``, ``preferred``, ``warnings``) are a contract: docs/web.md.
"""

from rccnav.adapters.web.app import create_web_app, web_router

__all__ = ["create_web_app", "web_router"]
