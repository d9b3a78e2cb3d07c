"""Fetch what the CDS Client did not prefetch, from its ``fhirServer``.

The CDS Hooks spec lets a client satisfy none, some or all prefetch templates;
the service must fetch the rest itself with the ``fhirAuthorization`` bearer
token, or answer 412. The fetch is bounded: a timeout per request, a byte limit
per query (all pages together), a page limit, no redirects, and ``next`` links
followed only when they stay under the same ``fhirServer`` base, so a server
cannot send the access token elsewhere.

Nothing is fetched unless ``fhir_client.allowed_servers`` names the server's base
(default deny: a CDS Client's ``fhirServer`` is data from the request, and
fetching from any URL it names would be server-side request forgery). URLs are
normalised (scheme and host case, default port, repeated slashes) and any ``.``
or ``..`` segment, plain or percent-encoded, is refused, in the base, in our
query URLs and in ``next`` links.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from rccnav.adapters.service.config import FhirClientConfig

FHIR_JSON = "application/fhir+json"


class FetchError(Exception):
    """The data could not be fetched; the message is safe to return and to log."""


class NotFound(FetchError):
    """A read (``Type/id``) found nothing: the prefetch value is null."""


_DEFAULT_PORTS = {"https": 443, "http": 80}
#: ``.``/``..`` segments, also percent-encoded, and encoded slashes or backslashes:
#: a server (or a client-supplied fhirServer) must not climb out of its base path.
_DOT_SEGMENT = re.compile(r"(^|/)(\.|%2e){1,2}(/|$)", re.IGNORECASE)
_SNEAKY = re.compile(r"%2f|%5c|\\", re.IGNORECASE)


@dataclass(frozen=True)
class Base:
    """A FHIR server base URL in normal form: scheme, host, port and path segments."""

    scheme: str
    host: str
    port: int
    path: str  # no trailing slash; "" for the root

    @property
    def url(self) -> str:
        default = _DEFAULT_PORTS[self.scheme]
        netloc = self.host if self.port == default else f"{self.host}:{self.port}"
        return f"{self.scheme}://{netloc}{self.path}"

    def contains(self, other: Base) -> bool:
        """``other`` is this base or a path under it (segment-wise, never a prefix trick)."""
        same_origin = (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port)
        return same_origin and (other.path == self.path or other.path.startswith(self.path + "/"))


def parse_base(url: str, what: str = "fhirServer") -> Base:
    """Normalise an absolute http(s) URL; refuse dot segments, credentials, fragments."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"{what} is not a valid URL") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise FetchError(f"{what} is not an absolute http(s) URL")
    if parts.username or parts.password:
        raise FetchError(f"{what} must not carry credentials")
    if _DOT_SEGMENT.search(parts.path) or _SNEAKY.search(parts.path):
        raise FetchError(f"{what} has '.' or '..' path segments (also percent-encoded)")
    path = re.sub("/{2,}", "/", parts.path).rstrip("/")
    return Base(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], path)


def check_server(base: str, config: FhirClientConfig) -> str:
    """The fhirServer base URL, if policy allows calling it (default: call nothing).

    No request, and so no access token, goes to a server that
    ``fhir_client.allowed_servers`` does not name.
    """
    server = parse_base(base)
    if server.scheme == "http" and not config.allow_http:
        raise FetchError(
            "fhirServer uses http; set fhir_client.allow_http = true to allow plain http "
            "(testing only), or use https"
        )
    if not config.allowed_servers:
        raise FetchError(
            "fhirServer is not called: fhir_client.allowed_servers is empty. Add this "
            "server's base URL to fhir_client.allowed_servers to let the service fetch "
            "what was not prefetched"
        )
    if not any(
        parse_base(allowed, "fhir_client.allowed_servers").contains(server)
        for allowed in config.allowed_servers
    ):
        raise FetchError("fhirServer is not in fhir_client.allowed_servers")
    return server.url


def _same_base(url: str, base: str) -> bool:
    """A next link under the fhirServer base (after normalising both)."""
    try:
        return parse_base(base).contains(parse_base(url.split("?", 1)[0], "a next link"))
    except FetchError:
        return False


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            return url if isinstance(url, str) else None
    return None


class FhirFetcher:
    """One pooled async HTTP client shared by all hook calls."""

    def __init__(
        self, config: FhirClientConfig, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_seconds),
            follow_redirects=False,
            transport=transport,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            headers={"Accept": FHIR_JSON},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _get(self, url: str, token: str | None, budget: int) -> tuple[Any, int]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 404:
                    raise NotFound("not found")
                if response.status_code != 200:
                    raise FetchError(f"FHIR server answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > budget:
                    raise FetchError("FHIR response exceeds the size limit")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > budget:
                        raise FetchError("FHIR response exceeds the size limit")
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise FetchError("FHIR server timed out") from exc
        except httpx.HTTPError as exc:
            raise FetchError(f"FHIR server unreachable ({type(exc).__name__})") from exc
        try:
            return orjson.loads(b"".join(chunks)), size
        except orjson.JSONDecodeError as exc:
            raise FetchError("FHIR server returned invalid JSON") from exc

    def _query_url(self, base: str, query: str) -> str:
        url = f"{base}/{query.lstrip('/')}"
        if self._config.page_size and "?" in query and "_count=" not in query:
            url += f"&_count={self._config.page_size}"
        return url

    async def fetch(self, base: str, query: str, token: str | None) -> dict[str, Any] | None:
        """Run one prefetch query (a read or a search), following search pages."""
        base = check_server(base, self._config)
        budget = self._config.max_response_bytes
        url = self._query_url(base, query)
        if not _same_base(url, base):
            raise FetchError("the query would leave fhirServer (a '..' in an id?)")
        try:
            data, used = await self._get(url, token, budget)
        except NotFound:
            if "?" in query:
                raise FetchError("search endpoint not found") from None
            return None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FetchError("FHIR server did not return a resource")
        if data["resourceType"] == "OperationOutcome":
            raise FetchError("FHIR server returned an OperationOutcome")
        if data["resourceType"] == "Bundle":
            return await self.complete_pages(base, data, token, budget - used)
        return data

    async def complete_pages(
        self, base: str, bundle: dict[str, Any], token: str | None, budget: int | None = None
    ) -> dict[str, Any]:
        """Follow ``next`` links and return one Bundle holding every page's entries."""
        next_url = _next_link(bundle)
        if next_url is None:
            return bundle
        base = check_server(base, self._config)
        remaining = self._config.max_response_bytes if budget is None else budget
        entries = list(bundle.get("entry") or ())
        for _ in range(self._config.max_pages):
            if next_url is None:
                break
            if not _same_base(next_url, base):
                raise FetchError("a next link points outside fhirServer")
            page, used = await self._get(next_url, token, remaining)
            remaining -= used
            if not isinstance(page, dict) or page.get("resourceType") != "Bundle":
                raise FetchError("a search page is not a Bundle")
            entries.extend(page.get("entry") or ())
            next_url = _next_link(page)
        else:
            if next_url is not None:
                raise FetchError("search has more pages than the configured limit")
        merged = {k: v for k, v in bundle.items() if k not in {"link", "entry"}}
        merged["entry"] = entries
        return merged
