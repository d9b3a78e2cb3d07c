"""Load test of the CDS Hooks service on loopback: patient-view with prefetch vs a
trivial endpoint, at 1, 10, 50 and 500 concurrent clients (each client sends its next
call when the last is answered), then a 10x overload burst.

    .venv/bin/python benchmarks/bench_service.py [--quick] [--insecure]

The server is `rccnav serve` in its own process (JWT authentication on, access
log on, as deployed); the client is a small asyncio HTTP/1.1 keep-alive client in
this process (one connection per virtual client), so the client costs as little
CPU as possible on this 2-core machine. JWTs (a fresh jti each, as the spec
requires) are signed before each timed phase. Prefetch bodies rotate over the
twelve vignettes.

Targets (issues 4 and 12): p99 <= 50 ms at 50 concurrent clients, and patient-view
throughput >= 50% of the trivial *authenticated* endpoint's (discovery with a JWT, checked
like a hook call). At 500 clients, more than the work slots, the calls beyond the slots
get clean 503s: the phase reports p50/p99 of the calls served, the 503 share and the
throughput ratio to the authenticated trivial endpoint at the same 500 clients. The
overload burst must produce only 200s and clean 503s, the process must stay up, and
every feedback record acknowledged during the burst must be in the database afterwards.

Traffic goes only to 127.0.0.1; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import orjson

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SPEC = SHARED / "fixtures" / "external" / "cds-hooks" / "hl7-cds-hooks-spec"
VIGNETTES = SHARED / "vignettes"
ISSUER = "https://fhir-ehr.example.com/"
PV_PATH = "/cds-services/rccnav-patient-view"
FEEDBACK_PATH = "/cds-services/rccnav-patient-view/feedback"
TRIVIAL_PATH = "/healthz"
DISCOVERY_PATH = "/cds-services"
AUTH_TRIVIAL = "GET /cds-services (JWT)"
PHASE_SECONDS_CAP = 60.0
#: Work slots of the server under test (limits.max_concurrent_requests).
SLOTS = 64


# -- request material --------------------------------------------------------------


def _prefetch(bundle: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    keys = {
        "Condition": "conditions",
        "Observation": "observations",
        "MedicationRequest": "medicationRequests",
        "MedicationAdministration": "medicationAdministrations",
        "MedicationStatement": "medicationStatements",
        "Procedure": "procedures",
    }
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    pid = patient["resource"]["id"]
    raw = orjson.dumps(bundle).decode()
    if patient.get("fullUrl"):
        raw = raw.replace(f'"{patient["fullUrl"]}"', f'"Patient/{pid}"')
    data = orjson.loads(raw)
    out: dict[str, Any] = {
        key: {"resourceType": "Bundle", "type": "searchset", "entry": []} for key in keys.values()
    }
    for entry in data["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            out["patient"] = resource
        elif resource["resourceType"] in keys:
            out[keys[resource["resourceType"]]]["entry"].append({"resource": resource})
    return pid, out


def hook_requests() -> list[dict[str, Any]]:
    out = []
    for path in sorted(VIGNETTES.glob("p*.json")):
        if path.name.endswith(".expected.json"):
            continue
        pid, prefetch = _prefetch(orjson.loads(path.read_bytes()))
        out.append(
            {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": pid},
                "prefetch": prefetch,
            }
        )
    return out


def repeat_bodies(requests: list[dict[str, Any]]) -> list[bytes]:
    """The twelve vignettes, as an EHR re-opening the same charts would send them."""
    return [orjson.dumps(r) for r in requests]


def unique_bodies(requests: list[dict[str, Any]], n: int) -> list[bytes]:
    """n bodies whose data all differ (a new Patient.meta.versionId each): no cache hits."""
    bodies = []
    for i in range(n):
        request = requests[i % len(requests)]
        patient = {**request["prefetch"]["patient"], "meta": {"versionId": f"bench-{i}"}}
        prefetch = {**request["prefetch"], "patient": patient}
        bodies.append(orjson.dumps({**request, "prefetch": prefetch}))
    return bodies


class Signer:
    """Signs client JWTs with the spec's ES384 example key or a fresh RS384 key."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        if alg == "ES384":
            jwk = orjson.loads((SPEC / "jwk-private-example.json").read_bytes())
            self.key = jwt.PyJWK(jwk).key
            self.kid = "example-kid"
            self.public = orjson.loads((SPEC / "jwks-public.json").read_bytes())["keys"][0]
        else:
            from cryptography.hazmat.primitives.asymmetric import rsa

            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.kid = "bench-rsa"
            self.public = {
                **orjson.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key())),
                "kid": self.kid,
                "alg": "RS384",
                "use": "sig",
            }

    def tokens(self, aud: str, n: int) -> list[str]:
        now = int(time.time())
        return [
            jwt.encode(
                {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 600, "jti": str(uuid.uuid4())},
                self.key,
                algorithm=self.alg,
                headers={"kid": self.kid, "typ": "JWT"},
            )
            for _ in range(n)
        ]


HOST = {"value": "127.0.0.1"}  # set to 127.0.0.1:<port> once the server's port is known


def request_bytes(method: str, path: str, body: bytes = b"", token: str | None = None) -> bytes:
    # The Host header makes the URL the server sees, which the JWT aud must equal.
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST['value']}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if method == "POST":
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# -- a minimal keep-alive HTTP/1.1 client ------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**22)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        body = await self.reader.readexactly(length) if length else b""
        if close:
            raise ConnectionClosed(status, body)
        return status, body

    def close(self) -> None:
        self.writer.close()


class ConnectionClosed(Exception):
    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class PhaseResult:
    name: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_phase(
    name: str, port: int, clients: int, requests: Sequence[bytes], *, expect: int = 200
) -> PhaseResult:
    """``clients`` connections share the request list; each sends one at a time."""
    result = PhaseResult(name, clients)
    queue = iter(requests)
    deadline = time.perf_counter() + PHASE_SECONDS_CAP

    async def client() -> None:
        try:
            conn = await Connection.open(port)
        except OSError as exc:
            result.errors[type(exc).__name__] += 1
            return
        try:
            for raw in queue:
                if time.perf_counter() > deadline:
                    break
                started = time.perf_counter()
                try:
                    status, _ = await conn.send(raw)
                except ConnectionClosed as closed:
                    result.statuses[closed.status] += 1
                    conn.close()
                    conn = await Connection.open(port)
                    continue
                except (OSError, asyncio.IncompleteReadError) as exc:
                    result.errors[type(exc).__name__] += 1
                    conn.close()
                    conn = await Connection.open(port)
                    continue
                result.statuses[status] += 1
                if status == expect:
                    result.latencies.append(time.perf_counter() - started)
        finally:
            conn.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


# -- the server ------------------------------------------------------------------------


def pin(pid: int, cpu: int) -> None:
    """Server on one core, client on the other, so they do not steal each other's time."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def start_server(
    home: Path, port: int, insecure: bool, public_key: dict[str, Any]
) -> subprocess.Popen[bytes]:
    jwks = {"keys": [public_key]}
    config = {
        "feedback_db": str(home / "feedback.sqlite3"),
        "public_base_url": f"http://127.0.0.1:{port}",
        "assessment_date": "2026-11-01",
        "auth": {"issuers": [{"iss": ISSUER, "jwks": jwks}]},
        "limits": {"max_concurrent_requests": SLOTS},
        "log_level": "info",
    }
    (home / "rccnav.json").write_bytes(orjson.dumps(config))
    flags = ["--insecure-no-auth"] if insecure else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rccnav.adapters.cli",
            "serve",
            "--port",
            str(port),
            "--config",
            str(home / "rccnav.json"),
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(home / "server.log", "wb"),  # noqa: SIM115 (closed with the process)
    )
    pin(proc.pid, 0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited; see " + str(home / "server.log")) from None
            time.sleep(0.1)
    raise RuntimeError("server did not start")


# -- the benchmark -------------------------------------------------------------------------


def pv_requests(bodies: Sequence[bytes], tokens: list[str]) -> list[bytes]:
    return [
        request_bytes("POST", PV_PATH, bodies[i % len(bodies)], token)
        for i, token in enumerate(tokens)
    ]


def feedback_body(card: str) -> bytes:
    return orjson.dumps(
        {
            "feedback": [
                {
                    "card": card,
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-11-01T10:00:00Z",
                    "overrideReason": {"reason": {"system": "urn:bench", "code": "bench"}},
                }
            ]
        }
    )


def report(rows: list[PhaseResult]) -> None:
    print(
        f"{'phase':<26}{'clients':>8}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        "  statuses / errors"
    )
    for r in rows:
        extra = dict(r.statuses) | {f"err:{k}": v for k, v in r.errors.items()}
        print(
            f"{r.name:<26}{r.clients:>8}{len(r.latencies):>10}{r.throughput:>9.0f}"
            f"{r.pct(0.5):>9.2f}{r.pct(0.99):>9.2f}  {extra}"
        )


async def main_async(args: argparse.Namespace) -> int:
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    home = Path(tempfile.mkdtemp(prefix="rccnav-bench-"))
    port = free_port()
    HOST["value"] = f"127.0.0.1:{port}"
    signer = Signer(args.alg)
    proc = start_server(home, port, args.insecure, signer.public)
    pin(os.getpid(), 1)
    aud = f"http://127.0.0.1:{port}{PV_PATH}"
    discovery_aud = f"http://127.0.0.1:{port}{DISCOVERY_PATH}"
    requests_data = hook_requests()
    repeat = repeat_bodies(requests_data)
    per_phase = (
        {1: 300, 10: 2000, 50: 4000, 500: 4000}
        if args.quick
        else {1: 1500, 10: 6000, 50: 12000, 500: 12000}
    )
    rows: list[PhaseResult] = []
    failures: list[str] = []
    kinds = ("patient-view, repeat data", "patient-view, unique data")
    try:
        # Warm-up: imports, caches, the knowledge base's first use.
        await run_phase("warm-up", port, 4, pv_requests(repeat, signer.tokens(aud, 300)))
        for clients, n in per_phase.items():
            trivial = [request_bytes("GET", TRIVIAL_PATH)] * n
            rows.append(await run_phase("trivial GET /healthz", port, clients, trivial))
            # A second baseline: a trivial call that is authenticated like a hook call.
            discovery = [
                request_bytes("GET", DISCOVERY_PATH, token=t)
                for t in signer.tokens(discovery_aud, n)
            ]
            rows.append(await run_phase(AUTH_TRIVIAL, port, clients, discovery))
            tokens = signer.tokens(aud, n)
            rows.append(await run_phase(kinds[0], port, clients, pv_requests(repeat, tokens)))
            tokens = signer.tokens(aud, n)
            unique = unique_bodies(requests_data, n)
            rows.append(await run_phase(kinds[1], port, clients, pv_requests(unique, tokens)))
        auth = "no auth" if args.insecure else f"JWT {args.alg}"
        print(
            f"\nrccnav service benchmark ({auth}; {os.cpu_count()} CPUs; loopback; server "
            "and client in separate processes, one core each)\n"
        )
        report(rows)
        by = {(r.name, r.clients): r for r in rows}
        print()
        for clients in per_phase:
            trivial_row = by[("trivial GET /healthz", clients)]
            auth_row = by[(AUTH_TRIVIAL, clients)]
            for kind in kinds:
                pv = by[(kind, clients)]
                ratio = pv.throughput / trivial_row.throughput
                auth_ratio = pv.throughput / auth_row.throughput
                refused = pv.statuses.get(503, 0)
                print(
                    f"{clients:>3} clients, {kind}: {100 * ratio:.0f}% of trivial throughput "
                    f"({100 * auth_ratio:.0f}% of authenticated trivial), "
                    f"p50 {pv.pct(0.5):.1f} ms, p99 {pv.pct(0.99):.1f} ms"
                    + (f", {refused} clean 503s (beyond the work slots)" if refused else "")
                )
                # Beyond the work slots (500 clients) a clean 503 is the designed answer.
                allowed = {200, 503} if clients > SLOTS else {200}
                if pv.errors or set(pv.statuses) - allowed:
                    failures.append(f"errors at {clients} clients: {pv.statuses} {pv.errors}")
        for clients in (50, 500):
            auth_row = by[(AUTH_TRIVIAL, clients)]
            for kind in kinds:
                pv = by[(kind, clients)]
                ratio = pv.throughput / auth_row.throughput
                p99 = (
                    f"p99 <= 50 ms {'met' if pv.pct(0.99) <= 50 else 'MISSED'}; "
                    if clients == 50
                    else f"p99 {pv.pct(0.99):.0f} ms (served calls); "
                )
                print(
                    f"targets at {clients} clients, {kind}: {p99}>= 50% of authenticated "
                    f"trivial throughput {'met' if ratio >= 0.5 else 'MISSED'} "
                    f"({100 * ratio:.0f}%)"
                )

        # Overload: 10x the 50-client load at once, with feedback posted during it.
        burst_clients = 500
        burst_n = 2000 if args.quick else 5000
        burst = pv_requests(unique_bodies(requests_data, burst_n), signer.tokens(aud, burst_n))
        fb_aud = f"http://127.0.0.1:{port}{FEEDBACK_PATH}"
        fb_requests = [feedback_body(f"bench-{i}") for i in range(100)]

        def with_token(body: bytes) -> bytes:
            # Each attempt, retries included, needs a fresh jti.
            token = None if args.insecure else signer.tokens(fb_aud, 1)[0]
            return request_bytes("POST", FEEDBACK_PATH, body, token)

        async def feedback_with_fresh_tokens() -> tuple[int, Counter[int]]:
            acknowledged = 0
            statuses: Counter[int] = Counter()

            async def post(raw: bytes) -> None:
                nonlocal acknowledged
                conn = await Connection.open(port)
                try:
                    for _ in range(200):
                        status, _ = await conn.send(with_token(raw))
                        statuses[status] += 1
                        if status == 200:
                            acknowledged += 1
                            return
                        await asyncio.sleep(0.05)
                finally:
                    conn.close()

            await asyncio.gather(*(post(r) for r in fb_requests))
            return acknowledged, statuses

        before = time.perf_counter()
        burst_result, (acked, fb_statuses) = await asyncio.gather(
            run_phase("overload burst (10x)", port, burst_clients, burst),
            feedback_with_fresh_tokens(),
        )
        print(
            f"\noverload: {burst_clients} concurrent clients, {burst_n} patient-view calls, "
            f"plus {len(fb_requests)} feedback posts, in {time.perf_counter() - before:.1f} s"
        )
        report([burst_result])
        unexpected = set(burst_result.statuses) - {200, 503}
        alive = proc.poll() is None
        conn = await Connection.open(port)
        health, _ = await conn.send(request_bytes("GET", TRIVIAL_PATH))
        conn.close()
        with sqlite3.connect(home / "feedback.sqlite3") as db:
            stored = db.execute("SELECT count(*) FROM feedback").fetchone()[0]
        print(
            f"served {burst_result.statuses.get(200, 0)}, refused cleanly (503) "
            f"{burst_result.statuses.get(503, 0)}, other statuses {sorted(unexpected) or 'none'}, "
            f"connection errors {dict(burst_result.errors) or 'none'}"
        )
        print(
            f"server alive after burst: {alive and health == 200}; feedback acknowledged "
            f"{acked}/{len(fb_requests)}, stored {stored} (statuses {dict(fb_statuses)})"
        )
        if unexpected or burst_result.errors:
            failures.append("overload produced errors other than clean 503s")
        if not (alive and health == 200):
            failures.append("server did not survive the burst")
        if stored != acked or acked != len(fb_requests):
            failures.append("feedback lost")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per phase")
    parser.add_argument("--insecure", action="store_true", help="serve without JWT checks")
    parser.add_argument(
        "--alg",
        choices=("ES384", "RS384"),
        default="ES384",
        help="client JWT algorithm (both are the spec's recommendations)",
    )
    return asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
