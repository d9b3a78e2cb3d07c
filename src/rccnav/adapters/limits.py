"""Bounds on what rccnav reads, so a hostile or broken file fails fast with a message.

Every input (CLI file or stdin, ``POST /api/assess`` body) is bounded in size before
it is parsed and in nesting and number size after. The limits are far above any real
record: one patient's FHIR export is a few megabytes and about 15 levels deep (a
Bundle nested in a Bundle, an extension inside an extension); a case file is 5 levels.
"""

from __future__ import annotations

import math
import os
import stat
from datetime import date, datetime
from typing import Any, BinaryIO

from rccnav.adapters.errors import InputError

#: Largest input the CLI reads (the service has its own body limit, 413).
MAX_INPUT_BYTES = 64 * 1024 * 1024
#: Largest case file (JSON or YAML; YAML is parsed in pure Python, about 1 MB/s). A
#: case file is a few kilobytes; FHIR input may be larger (``MAX_INPUT_BYTES``).
MAX_CASE_FILE_BYTES = 1024 * 1024
#: Deepest nesting of lists and mappings accepted in a case file or YAML.
MAX_DEPTH = 64
#: Largest magnitude of a number in a case file: clinical values are far smaller, and
#: a larger one is a typo or an attack (a 5,000-digit integer takes seconds to convert).
MAX_NUMBER = 1e12
#: Longest digit string read as a YAML integer.
MAX_DIGITS = 20


def read_path(path: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read a regular file of at most ``limit`` bytes; refuse devices, FIFOs and sockets.

    The file is opened non-blocking and checked with ``fstat`` before any read, so a
    FIFO with no writer or ``/dev/zero`` is refused at once instead of hanging.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        raise InputError("is a directory, not a case file or FHIR Bundle", where=path) from None
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", where=path) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise InputError("is a directory, not a case file or FHIR Bundle", where=path)
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                "is not a regular file (a device, pipe or socket); save the data to a file, "
                "or pipe it to 'rccnav assess -'",
                where=path,
            )
        if info.st_size > limit:
            raise InputError(_too_large(info.st_size, limit), where=path)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return _read_bounded(handle, limit, path)
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror or exc}", where=path) from None
    finally:
        os.close(fd)


def read_stream(stream: BinaryIO, name: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """Read at most ``limit`` bytes from a stream (stdin); more is an error, not a hang."""
    return _read_bounded(stream, limit, name)


def _read_bounded(stream: BinaryIO, limit: int, name: str) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InputError(_too_large(None, limit), where=name)
    return data


def _too_large(size: int | None, limit: int) -> str:
    got = f"{size / 1048576:.1f} MiB" if size is not None else "more than that"
    return (
        f"the input is too large ({got}); rccnav reads one patient's record of at most "
        f"{limit // 1048576} MiB"
    )


def check_case_file_size(text: str, name: str) -> None:
    if len(text) > MAX_CASE_FILE_BYTES:
        raise InputError(
            f"a case file is at most {MAX_CASE_FILE_BYTES // 1024} KiB (this one is "
            f"{len(text) // 1024} KiB); FHIR input may be larger",
            where=name,
        )


def _where(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "the top level"


def check_values(data: Any, name: str) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH`, non-finite or absurd numbers, and
    values no case file can hold (binary data, sets, non-text keys). Iterative: a deep
    document cannot exhaust the interpreter's stack here."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise InputError(
                f"nested more than {MAX_DEPTH} levels deep at {_where(path[:8])}...", where=name
            )
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if type(key) is not str:
                    raise InputError(
                        f"{_where((*path, str(key)))}: a field name must be text, got {key!r}",
                        where=name,
                    )
                stack.append((item, (*path, key)))
        elif kind is list or kind is tuple:
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif kind is float:
            if not math.isfinite(value) or abs(value) > MAX_NUMBER:
                raise InputError(
                    f"{_where(path)}: {value!r} is not a usable number (at most "
                    f"{MAX_NUMBER:.0e} in size, finite)",
                    where=name,
                )
        elif kind is int:
            if abs(value) > MAX_NUMBER:
                raise InputError(
                    f"{_where(path)}: the number is too large to be a clinical value",
                    where=name,
                )
        elif kind not in (str, bool, type(None), date, datetime):
            raise InputError(
                f"{_where(path)}: a value of type {kind.__name__} cannot appear in a case file",
                where=name,
            )
