"""A per-user cache of the validated knowledge base and terminology.

Parsing and validating the reviewable YAML costs more than assessing a patient, so a
command-line run reuses the compiled objects from its previous run. The cache is keyed
by the SHA-256 of the YAML bytes, of the code that builds and shapes the compiled objects
(this package's modules) and the versions of rccnav, pydantic and Python: any edit to a
YAML file or to the knowledge-base model, or an upgrade, builds and stores a fresh copy.
The cache lives in ``$RCCNAV_CACHE_DIR``, else ``$XDG_CACHE_HOME/rccnav``, else
``~/.cache/rccnav``, is written atomically, and ``RCCNAV_NO_CACHE=1`` turns it off. Any
problem reading or writing it falls back to building from the YAML: the cache can only
save time.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# 2: the terminology gained its index across value sets (new attributes).
_FORMAT = 2


def cache_dir() -> Path | None:
    if os.environ.get("RCCNAV_NO_CACHE"):
        return None
    explicit = os.environ.get("RCCNAV_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rccnav"


def _stamp(kind: str, checksum: str) -> str:
    import pydantic

    from rccnav import __version__

    parts = (
        str(_FORMAT),
        kind,
        checksum,
        _code_digest(),
        __version__,
        pydantic.VERSION,
        sys.version,
    )
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of this package's modules: a new field or index (knowledge-base model,
    loader, terminology) must not meet a pickle made by the previous code. (Once per
    process: the modules that are running do not change under it.)"""
    digest = hashlib.sha256()
    for module in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(module.name.encode())
        digest.update(module.read_bytes())
    return digest.hexdigest()


def cached(kind: str, checksum: str, build: Callable[[], T], expected: type[T]) -> T:
    """The object ``build()`` makes from content whose digest is ``checksum``."""
    folder = cache_dir()
    if folder is None:
        return build()
    stamp = _stamp(kind, checksum)
    path = folder / f"{kind}-{stamp[:32]}.pickle"
    try:
        stored_stamp, value = pickle.loads(path.read_bytes())
        if stored_stamp == stamp and isinstance(value, expected):
            return value
    except Exception:  # missing, truncated, stale or unreadable: rebuild
        pass
    value = build()
    _store(path, stamp, value)
    return value


def _store(path: Path, stamp: str, value: object) -> None:
    try:
        data = pickle.dumps((stamp, value), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:  # an object that cannot be pickled is simply not cached
        return
    store_bytes(path, data)


def store_bytes(path: Path, data: bytes) -> None:
    """Write a cache file atomically (a reader sees the old file or the new one); any
    failure leaves the cache as it was."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except Exception:  # read-only home, full disk: the cache is only an optimisation
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
