"""Tickets created from a call, through the tickets service's REST API (`POST /v1/tickets`),
on behalf of the agent (the agent's own token is forwarded, so tickets checks its rights)."""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from switchboard_common.errors import AppError, ErrorKind, Unavailable, UpstreamError


class TicketsUnavailable(Unavailable):
    error_id = "tickets-unavailable"


class TicketCreator(Protocol):
    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        """The created ticket (tickets' TicketPublic as JSON)."""
        ...


class HttpTicketCreator:
    def __init__(self, base_url: str, *, timeout_s: float = 5.0) -> None:
        self._url = base_url.rstrip("/") + "/v1/tickets" if base_url else ""
        self._timeout_s = timeout_s
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self._timeout_s)

    async def stop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def create(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        if not self._url:
            raise TicketsUnavailable(
                "no tickets service is configured (SB_TICKETS_HTTP); the ticket was not created"
            )
        client = self._client or httpx.AsyncClient(timeout=self._timeout_s)
        try:
            response = await client.post(
                self._url, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise TicketsUnavailable(
                f"the tickets service cannot be reached ({type(exc).__name__}); "
                "the ticket was not created",
                details={"reason": type(exc).__name__},
            ) from exc
        finally:
            if client is not self._client:
                await client.aclose()
        if response.status_code == 201:
            created: dict[str, Any] = response.json()
            return created
        return _raise_answer(response)


def _raise_answer(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = {}
    error_id = body.get("error") if isinstance(body, dict) else None
    message = body.get("message") if isinstance(body, dict) else None
    if response.status_code >= 500 or not isinstance(error_id, str):
        raise UpstreamError(
            f"the tickets service answered {response.status_code}; the ticket was not created",
            error_id="tickets-failed",
            details={"status": response.status_code},
        )
    kind = next(
        (k for k in ErrorKind if k.http_status == response.status_code), ErrorKind.BAD_REQUEST
    )
    raise AppError(
        str(message or error_id),
        error_id=error_id,
        kind=kind,
        details=body.get("details") or {},
    )
