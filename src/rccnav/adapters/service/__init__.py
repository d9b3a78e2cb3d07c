"""rccnav as an HTTP service: HL7 CDS Hooks 2.0 services and a JSON API.

``create_app(config)`` in :mod:`rccnav.adapters.service.app` builds the FastAPI
application; ``rccnav serve`` runs it under uvicorn (:mod:`.cli`).
"""
