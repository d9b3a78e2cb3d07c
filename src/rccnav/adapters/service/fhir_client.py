"""Fetch what the CDS Client did not prefetch, from its ``fhirServer``.

The CDS Hooks spec lets a client satisfy none, some or all prefetch templates;
the service must fetch the rest itself with the ``fhirAuthorization`` bearer
token, or answer 412. The fetch is bounded: a timeout per request, a byte limit
per query (all pages together), a page limit, no redirects, and ``next`` links
followed only when they stay under the same ``fhirServer`` base, so a server
cannot send the access token elsewhere.
"""

from __future__ import annotations

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


def check_server(base: str, config: FhirClientConfig) -> str:
    """The fhirServer base URL, if policy allows calling it."""
    parts = urlsplit(base)
    if parts.scheme not in {"https", "http"} or not parts.netloc:
        raise FetchError("fhirServer is not an absolute http(s) URL")
    if parts.scheme == "http" and not config.allow_http:
        raise FetchError("fhirServer must use https")
    if parts.username or parts.password:
        raise FetchError("fhirServer must not carry credentials")
    base = base.rstrip("/")
    if config.allowed_servers and not any(
        base == allowed.rstrip("/") or base.startswith(allowed.rstrip("/") + "/")
        for allowed in config.allowed_servers
    ):
        raise FetchError("fhirServer is not on the allow-list")
    return base


def _same_base(url: str, base: str) -> bool:
    return url == base or url.startswith(base + "/") or url.startswith(base + "?")


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
        try:
            data, used = await self._get(self._query_url(base, query), token, budget)
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
