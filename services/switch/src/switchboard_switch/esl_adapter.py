"""The FreeSwitch port on top of the shared ESL client, and the event feed into the service."""

from __future__ import annotations

import logging

from switchboard_common.esl import EslClient, EslCommandError, Event
from switchboard_switch.domain.channels import SUBSCRIBED_EVENTS
from switchboard_switch.services import SwitchService

log = logging.getLogger(__name__)


class EslFreeSwitch:
    """Implements `services.FreeSwitch` with an `EslClient`."""

    def __init__(self, client: EslClient) -> None:
        self.client = client

    async def api(self, command: str) -> str:
        return (await self.client.api(command)).text

    async def bgapi(self, command: str, timeout_s: float) -> str:
        job = await self.client.bgapi(command)
        return (await job.result(timeout_s)).text

    async def execute(self, call_id: str, application: str, argument: str, event_uuid: str) -> str:
        try:
            reply = await self.client.execute(call_id, application, argument, event_uuid=event_uuid)
        except EslCommandError as exc:
            return exc.message.split(": ", 1)[-1] if "-ERR" in exc.message else f"-ERR {exc}"
        return reply.reply_text


class EslLink:
    """Owns the client's lifecycle: subscribe to what switch needs, feed events, resync."""

    def __init__(self, client: EslClient, service: SwitchService) -> None:
        self.client = client
        self.service = service
        client.on("*", self._on_event)
        client.add_connect_hook(self._on_connect)

    @staticmethod
    def subscriptions() -> tuple[str, ...]:
        return SUBSCRIBED_EVENTS

    def _on_event(self, event: Event) -> None:
        self.service.on_esl_event(event.name, event.headers)

    async def _on_connect(self) -> None:
        ended = await self.service.resync()
        log.info(
            "ESL link up; resynchronised",
            extra={"calls_ended_while_away": ended, "calls_live": len(self.service.tracker)},
        )

    async def start(self) -> None:
        await self.client.connect()

    async def stop(self) -> None:
        await self.client.close()

    async def healthy(self) -> bool:
        return self.client.connected
