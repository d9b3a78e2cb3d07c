"""``rccnav cohort export``: a FHIR Bulk Data ``$export`` client with SMART Backend Services.

Flow (FHIR Bulk Data Access 2.0): kick-off ``GET [base]/Patient/$export`` with
``Prefer: respond-async`` -> 202 and ``Content-Location``; poll that status URL, waiting
as long as ``Retry-After`` says, until 200 with the manifest; download every output
file. Authentication (SMART Backend Services): a client assertion JWT signed with the
client's private key (RS384 or ES384; ``iss`` = ``sub`` = client id, ``aud`` = the token
endpoint, ``exp`` <= 5 minutes, a fresh ``jti``) is exchanged at the token endpoint
(from ``.well-known/smart-configuration`` unless given) for an access token
(client-credentials grant). The token is sent only to the FHIR server's own origin,
never to a file host elsewhere. The folder written is what ``cohort assess`` reads:
one NDJSON file per output and a ``manifest.json`` naming them.
"""

from __future__ import annotations

import secrets
import time
import urllib.parse
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import orjson

from rccnav.adapters.errors import InputError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_WAIT = 2.0
MAX_WAIT = 120.0


class _Auth:
    def __init__(
        self,
        client: Any,
        base: str,
        client_id: str | None,
        key_path: Path | None,
        key_id: str | None,
        token_url: str | None,
        scope: str,
    ) -> None:
        if (client_id is None) != (key_path is None):
            raise InputError(
                "give both --client-id and --private-key, or neither", where="--client-id"
            )
        self.client = client
        self.base = base
        self.client_id = client_id
        self.key_id = key_id
        self.scope = scope
        self.token_url = token_url
        self.key = _load_key(key_path) if key_path else None
        self.token: str | None = None

    def headers(self, url: str) -> dict[str, str]:
        if self.key is None or not _same_origin(url, self.base):
            return {}
        if self.token is None:
            self.token = self._fetch_token()
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self) -> None:
        self.token = None

    def _discover(self) -> str:
        url = f"{self.base}/.well-known/smart-configuration"
        response = self.client.get(url, headers={"Accept": "application/json"})
        if response.status_code != 200:
            raise InputError(
                f"no SMART configuration (HTTP {response.status_code}); give --token-url", where=url
            )
        endpoint = _json(response, url).get("token_endpoint")
        if not isinstance(endpoint, str):
            raise InputError("the SMART configuration names no token_endpoint", where=url)
        return endpoint

    def _fetch_token(self) -> str:
        import jwt

        assert self.key is not None
        token_url = self.token_url or self._discover()
        self.token_url = token_url
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": token_url,
            "exp": now + 300,
            "jti": secrets.token_urlsafe(16),
        }
        algorithm = "ES384" if _is_ec(self.key) else "RS384"
        headers = {"kid": self.key_id} if self.key_id else None
        assertion = jwt.encode(claims, self.key, algorithm=algorithm, headers=headers)
        response = self.client.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "scope": self.scope,
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion,
            },
        )
        body = _json(response, token_url) if response.content else {}
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            why = (
                body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
            )
            raise InputError(f"the token endpoint refused the client: {why}", where=token_url)
        token: str = body["access_token"]
        return token


def _load_key(path: Path) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        return load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise InputError(
            f"not a readable PEM private key without a password: {exc}", where=str(path)
        ) from None


def _is_ec(key: Any) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec

    return isinstance(key, ec.EllipticCurvePrivateKey)


def _same_origin(url: str, base: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _json(response: Any, where: str) -> dict[str, Any]:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise InputError(
            f"the server answered HTTP {response.status_code} with non-JSON", where=where
        ) from None
    if not isinstance(data, dict):
        raise InputError("the server answered with JSON that is not an object", where=where)
    return data


def _problem(response: Any, where: str) -> InputError:
    detail = f"HTTP {response.status_code}"
    try:
        outcome = orjson.loads(response.content)
        issues = outcome.get("issue", []) if isinstance(outcome, dict) else []
        texts = [i["diagnostics"] for i in issues if isinstance(i, dict) and i.get("diagnostics")]
        if texts:
            detail += ": " + "; ".join(str(t) for t in texts)
    except orjson.JSONDecodeError:
        pass
    return InputError(detail, where=where)


def retry_after(value: str | None, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return DEFAULT_WAIT
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_WAIT)
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return DEFAULT_WAIT
    return min(max(when - (now if now is not None else time.time()), 0.0), MAX_WAIT)


def _request(client: Any, auth: _Auth, method: str, url: str, **kwargs: Any) -> Any:
    headers = {**kwargs.pop("headers", {}), **auth.headers(url)}
    response = client.request(method, url, headers=headers, **kwargs)
    if response.status_code == 401 and auth.token is not None:  # expired: one fresh token
        auth.refresh()
        headers = {**headers, **auth.headers(url)}
        response = client.request(method, url, headers=headers, **kwargs)
    return response


def run_export(
    fhir_server: str,
    out: Path,
    *,
    client_id: str | None = None,
    key_path: Path | None = None,
    key_id: str | None = None,
    token_url: str | None = None,
    scope: str = "system/*.read",
    timeout: float = 3600,
    sleep: Any = time.sleep,
) -> list[Path]:
    import httpx

    base = fhir_server.rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
        raise InputError("not an http(s) URL", where="--fhir-server")
    out.mkdir(parents=True, exist_ok=True)
    with httpx.Client(timeout=60, follow_redirects=False) as client:
        auth = _Auth(client, base, client_id, key_path, key_id, token_url, scope)
        try:
            manifest = _kick_off_and_wait(client, auth, base, timeout, sleep)
            return _download(client, auth, manifest, out)
        except httpx.HTTPError as exc:
            raise InputError(f"cannot reach the server: {exc}", where=base) from None


def _kick_off_and_wait(
    client: Any, auth: _Auth, base: str, timeout: float, sleep: Any
) -> dict[str, Any]:
    kickoff = f"{base}/Patient/$export"
    response = _request(
        client,
        auth,
        "GET",
        kickoff,
        headers={"Accept": "application/fhir+json", "Prefer": "respond-async"},
    )
    if response.status_code != 202 or "content-location" not in response.headers:
        raise _problem(response, kickoff)
    status_url = response.headers["content-location"]
    deadline = time.monotonic() + timeout
    while True:
        response = _request(client, auth, "GET", status_url, headers={"Accept": "application/json"})
        if response.status_code == 200:
            return _json(response, status_url)
        if response.status_code not in (202, 429):
            raise _problem(response, status_url)
        wait = retry_after(response.headers.get("retry-after"))
        if time.monotonic() + wait > deadline:
            raise InputError(f"the export was not ready within {timeout:.0f} s", where=status_url)
        sleep(wait)


def _download(client: Any, auth: _Auth, manifest: dict[str, Any], out: Path) -> list[Path]:
    outputs = manifest.get("output")
    if not isinstance(outputs, list):
        raise InputError("the manifest has no output list", where="manifest")
    written: list[Path] = []
    local: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(outputs, start=1):
        url = item.get("url") if isinstance(item, dict) else None
        rtype = item.get("type") if isinstance(item, dict) else None
        if not isinstance(url, str) or not isinstance(rtype, str) or not rtype.isalpha():
            raise InputError(f"output {number} has no usable type and url", where="manifest")
        seen[rtype] = seen.get(rtype, 0) + 1
        name = f"{rtype}.ndjson" if seen[rtype] == 1 else f"{rtype}-{seen[rtype]}.ndjson"
        path = out / name
        headers = {"Accept": "application/fhir+ndjson", **auth.headers(url)}
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                raise _problem(response, url)
            with path.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        written.append(path)
        local.append({"type": rtype, "url": name, "count": item.get("count")})
    saved = {**manifest, "output": local, "source_output": outputs}
    (out / "manifest.json").write_bytes(orjson.dumps(saved, option=orjson.OPT_INDENT_2))
    return written
