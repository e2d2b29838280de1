"""Performs the interpreter's webhook requests (`HttpRequest` effects) with httpx.

The body and the HMAC signature header come ready from the interpreter. Whatever goes wrong
(timeout, refused connection, an answer larger than allowed) becomes `HttpFailed`, which the
flow's http node turns into its fallback branch; a status or body the node cannot use is
judged by the interpreter itself.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from switchboard_ivr.domain import HttpFailed, HttpRequest, HttpResponse

log = logging.getLogger(__name__)


class WebhookClient:
    """POSTs webhook requests; one shared connection pool for every run."""

    def __init__(self, *, max_bytes: int = 65_536, client: httpx.AsyncClient | None = None) -> None:
        self._max_bytes = max_bytes
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._owns_client = client is None

    async def start(self) -> None:
        """The pool opens connections on first use."""

    async def stop(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def send(self, request: HttpRequest) -> HttpResponse | HttpFailed:
        timeout_s = request.timeout_ms / 1000
        try:
            async with asyncio.timeout(timeout_s):
                return await self._post(request, timeout_s)
        except TimeoutError:
            return HttpFailed(f"no answer within {request.timeout_ms} ms")
        except httpx.HTTPError as exc:
            return HttpFailed(f"{type(exc).__name__}: {exc}".rstrip(": "))

    async def _post(self, request: HttpRequest, timeout_s: float) -> HttpResponse | HttpFailed:
        async with self._client.stream(
            request.method,
            request.url,
            content=request.body,
            headers=list(request.headers),
            timeout=timeout_s,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self._max_bytes:
                    return HttpFailed(f"the answer is larger than {self._max_bytes} bytes")
                chunks.append(chunk)
            return HttpResponse(response.status_code, b"".join(chunks))
