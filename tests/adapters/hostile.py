"""A corpus of hostile and broken input files, generated (never committed as files).

Used by ``test_hostile_input.py`` (CLI and service, under time and memory bounds) and
by ``benchmarks/bench_hostile.py`` (how long each takes). Each item is what an attacker
or a broken export can send; every one must end as a clear refusal: exit status 2 in the
CLI, 400/413 in the service, never "internal error" and never a hang.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: How the CLI is given the input: a file by name, the same bytes on stdin, or a path
#: that is not a regular file.
FILE, STDIN, SPECIAL = "file", "stdin", "special"


@dataclass(frozen=True)
class Hostile:
    name: str  # the file name (its extension matters: .json, .yaml, .txt)
    data: bytes
    how: str = FILE
    expect: str = ""  # a fragment of the message the refusal must carry
    service: bool = True  # also sent as an /api/assess body


def _alias_bomb(levels: int = 9, width: int = 9) -> bytes:
    """The "billion laughs": 9 aliases of 9 aliases ... 9**9 strings from ~400 bytes."""
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return ("\n".join(lines) + "\n").encode()


def _deep_block_yaml(levels: int) -> bytes:
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(levels)).encode() + b"  " * levels + b"x\n"


def _deep_json(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * levels + closer * levels).encode()


def _deep_mapping_json(levels: int) -> bytes:
    return ('{"a":' * levels + "1" + "}" * levels).encode()


def _case_file(labs_value: str) -> bytes:
    return (
        "case_id: hostile\ndiagnosis:\n  date: 2025-01-01\n  histology: clear-cell\n"
        f"labs:\n  hemoglobin: {{value: {labs_value}, unit: g/dL, date: 2026-10-01}}\n"
    ).encode()


def corpus() -> list[Hostile]:
    big_digits = "9" * 5000
    deep_bundle_extension = (
        b'{"resourceType":"Bundle","type":"collection","entry":[{"resource":'
        b'{"resourceType":"Patient","id":"p","extension":' + _deep_json(100_000) + b"}}]}"
    )
    return [
        Hostile("alias-bomb.yaml", _alias_bomb(), expect="aliases"),
        Hostile("alias-merge.yaml", b"base: &b {value: 1}\nlabs:\n  <<: *b\n", expect="aliases"),
        Hostile("alias-bomb.txt", _alias_bomb(), expect="aliases"),
        Hostile("alias-bomb-stdin", _alias_bomb(), how=STDIN, expect="aliases"),
        Hostile("deep-block.yaml", _deep_block_yaml(500), expect="nested"),
        Hostile("deep-flow.yaml", b"a: " + _deep_json(10_000), expect="nested"),
        Hostile("deep-flow-mapping.yaml", b"a: " + _deep_json(10_000, "{a: ", "}"), expect=""),
        Hostile("deep-array.json", _deep_json(100_000), expect="nested"),
        Hostile("deep-array.txt", _deep_json(100_000), expect="nested"),
        Hostile("deep-array-stdin", _deep_json(100_000), how=STDIN, expect="nested"),
        Hostile("deep-mapping.json", _deep_mapping_json(100_000), expect="nested"),
        Hostile("deep-mapping-stdin", _deep_mapping_json(100_000), how=STDIN, expect="nested"),
        Hostile("deep-within-json-limit.json", _deep_mapping_json(900), expect="nested"),
        Hostile("deep-fhir-extension.json", deep_bundle_extension, expect="nested"),
        Hostile(
            "big-number.yaml", _case_file(big_digits).replace(b"g/dL", b"g/dL"), expect="digits"
        ),
        Hostile(
            "big-number.json", f'{{"case_id": "x", "n": {big_digits}}}'.encode(), expect="number"
        ),
        Hostile("big-float.yaml", _case_file("1e999"), expect="number"),
        Hostile("nan.yaml", _case_file(".nan"), expect="number"),
        Hostile("huge-finite.yaml", _case_file("1e300"), expect="number"),
        Hostile(
            "big-number-fhir.json",
            b'{"resourceType":"Observation","valueQuantity":{"value":'
            + big_digits.encode()
            + b"}}",
            expect="number",
        ),
        Hostile(
            "python-tag.yaml", b"case_id: !!python/object/apply:os.system [id]\n", expect="YAML"
        ),
        Hostile("binary-tag.yaml", b"case_id: hostile\nx: !!binary aGVsbG8=\n", expect="bytes"),
        Hostile("int-key.yaml", b"case_id: hostile\n1: x\n", expect="field name"),
        Hostile("big-case-file.yaml", b"case_id: x\n" + b"# padding\n" * 120_000, expect="KiB"),
        Hostile("nul-bytes.json", b"\x00" * 4096, expect=""),
        Hostile("not-utf8.yaml", b"case_id: \xff\xfe\n", expect="UTF-8"),
    ]


def special_paths(tmp: Path) -> list[Hostile]:
    """Paths that are not regular files: a device that never ends, a FIFO with no writer."""
    fifo = tmp / "no-writer.fifo"
    if not fifo.exists():
        os.mkfifo(fifo)
    return [
        Hostile("/dev/zero", b"", how=SPECIAL, expect="not a regular file", service=False),
        Hostile(str(fifo), b"", how=SPECIAL, expect="not a regular file", service=False),
        Hostile(str(tmp), b"", how=SPECIAL, expect="directory", service=False),
    ]
