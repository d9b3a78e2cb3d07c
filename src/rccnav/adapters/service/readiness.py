"""``GET /readyz``: can this process serve? Answered from memory and ``stat`` calls only.

Readiness must answer within milliseconds under any load, so nothing here waits
for the network or a database lock: the feedback store's folder and file are
checked for write access and free space, the store reports its last write error,
and each issuer's key set is "ready" when its keys are in memory (a key set
fetched by URL that is not yet cached is fetched in the background, once at a
time, and reported not ready until it arrives).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from typing import Any

import anyio.to_thread

from rccnav.adapters.service.state import ServiceState

log = logging.getLogger("rccnav.service")

#: Below this much free space in the feedback store's folder the service is not ready.
MIN_FREE_BYTES = 16 * 1024 * 1024

_fetching: set[str] = set()


def storage_check(state: ServiceState) -> dict[str, Any]:
    path = state.store.path
    folder = path.parent
    problem = state.store.last_error
    if problem is None and not os.access(folder, os.W_OK):
        problem = f"{folder} is not writable"
    elif problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = f"{path} is not writable"
    if problem is None:
        try:
            if shutil.disk_usage(folder).free < MIN_FREE_BYTES:
                problem = f"less than {MIN_FREE_BYTES // 2**20} MiB free in {folder}"
        except OSError as exc:
            problem = f"{folder}: {exc.strerror}"
    return {"ok": problem is None, **({"problem": problem} if problem else {})}


def _fetch_in_background(where: str, fetch: Any) -> None:
    if where in _fetching:
        return
    _fetching.add(where)

    async def run() -> None:
        try:
            await anyio.to_thread.run_sync(fetch)
        except Exception as exc:
            log.warning("JWK Set %s could not be fetched: %s", where, type(exc).__name__)
        finally:
            _fetching.discard(where)

    asyncio.get_running_loop().create_task(run())


def key_check(state: ServiceState) -> dict[str, Any]:
    if state.verifier is None:
        return {"ok": True, "note": "authentication disabled"}
    missing: list[str] = []
    for iss, source in state.verifier.key_sets():
        if not source.ready():
            missing.append(f"{iss}: {source.where}")
            _fetch_in_background(source.where, source.fetch)
    if missing:
        return {"ok": False, "problem": "key sets not fetched yet: " + "; ".join(missing)}
    return {"ok": True}


async def readiness(state: ServiceState) -> dict[str, dict[str, Any]]:
    return {"storage": storage_check(state), "key_sets": key_check(state)}
