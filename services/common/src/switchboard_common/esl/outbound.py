"""Outbound Event Socket mode: FreeSWITCH's `socket` dialplan app connects to us.

Each connection is one channel. `OutboundServer` accepts them and runs a handler per
`OutboundSession`; the session sends `connect` (whose reply is the channel's data), then the
handler drives the call: `myevents`, `linger`, `execute` (answer, playback, bridge...),
`hangup`, `api`, `resume`, `exit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from switchboard_common.esl.connection import EVENTS_DROPPED, EslConnection
from switchboard_common.esl.errors import EslCommandError, EslError, EslTimeoutError
from switchboard_common.esl.protocol import (
    COMMAND_REPLY,
    ApiResult,
    CommandReply,
    Event,
    EventFormat,
    Frame,
    command_name,
    encode_api,
    encode_connect,
    encode_execute,
    encode_exit,
    encode_filter,
    encode_hangup,
    encode_linger,
    encode_myevents,
    encode_nolinger,
    encode_resume,
    encode_sendmsg,
)

log = logging.getLogger(__name__)

SessionHandler = Callable[["OutboundSession"], Awaitable[None]]
EventMatcher = Callable[[Event], bool]


class OutboundSession:
    """One channel handed to us by FreeSWITCH's `socket` application.

    Events (after `myevents`) are queued for `next_event()`/`async for`, and also offered to
    waiters registered by `wait_for_event`/`execute_and_wait` before their command is sent,
    so a reply cannot overtake its registration.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        command_timeout: float = 10.0,
        queue_size: int = 1000,
    ) -> None:
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.command_timeout = command_timeout
        self._conn = EslConnection(
            reader,
            writer,
            on_event=self._take_event,
            on_disconnect_notice=self._take_notice,
            name=f"outbound-{self.peer}",
        )
        self._events: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self._waiters: list[tuple[EventMatcher, asyncio.Future[Event]]] = []
        self._dropped_counter = EVENTS_DROPPED.labels("outbound")
        self._dropped = 0
        self.channel: Event | None = None
        self.hung_up = asyncio.Event()

    def start(self) -> None:
        self._conn.start()

    # -- state ----------------------------------------------------------------------------

    @property
    def uuid(self) -> str | None:
        """The channel's Unique-ID (known after `connect`)."""
        return None if self.channel is None else self.channel.unique_id

    @property
    def lingering(self) -> bool:
        """FreeSWITCH said the channel hung up and it keeps the socket (`linger`)."""
        return self._conn.lingering

    @property
    def disconnect_notice(self) -> Frame | None:
        return self._conn.disconnect_notice

    @property
    def is_closed(self) -> bool:
        return self._conn.is_closed

    async def wait_closed(self) -> None:
        await self._conn.wait_closed()

    # -- events ---------------------------------------------------------------------------

    def _take_event(self, event: Event) -> None:
        if self._waiters:
            for waiter in list(self._waiters):
                matcher, future = waiter
                if not future.done() and matcher(event):
                    future.set_result(event)
                    self._waiters.remove(waiter)
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self._dropped += 1
            self._dropped_counter.inc()
            if self._dropped == 1:
                log.warning("ESL outbound %s: event queue full, dropping events", self.peer)

    def _take_notice(self, frame: Frame) -> None:
        self.hung_up.set()
        log.debug(
            "ESL outbound %s: disconnect notice (%s)",
            self.peer,
            frame.headers.get("Content-Disposition", "disconnect"),
        )

    async def next_event(self, timeout: float | None = None) -> Event:  # noqa: ASYNC109
        """The next event of this channel; `EslTimeoutError` after `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return await self._events.get()
        except TimeoutError:
            raise EslTimeoutError(
                f"no event on outbound session {self.peer} within {timeout}s",
                details={"peer": self.peer},
            ) from None

    async def __aiter__(self) -> AsyncIterator[Event]:
        """Events until the socket closes (those already queued are still delivered)."""
        closed = asyncio.ensure_future(self._conn.wait_closed())
        try:
            while True:
                if self._events.empty() and closed.done():
                    return
                getter = asyncio.ensure_future(self._events.get())
                await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
        finally:
            closed.cancel()

    async def wait_for_event(
        self,
        matcher: EventMatcher,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Event:
        """Wait for the first event `matcher` accepts (arriving after this call)."""
        future = self._register(matcher)
        return await self._await_event(future, timeout, "a matching event")

    def _register(self, matcher: EventMatcher) -> asyncio.Future[Event]:
        future: asyncio.Future[Event] = asyncio.get_running_loop().create_future()
        self._waiters.append((matcher, future))
        return future

    async def _await_event(
        self,
        future: asyncio.Future[Event],
        timeout: float | None,  # noqa: ASYNC109
        what: str,
    ) -> Event:
        closed: asyncio.Future[Any] = asyncio.ensure_future(self._conn.wait_closed())
        try:
            async with asyncio.timeout(timeout):
                await asyncio.wait([future, closed], return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise EslTimeoutError(
                f"outbound session {self.peer}: no {what} within {timeout}s",
                details={"peer": self.peer},
            ) from None
        finally:
            closed.cancel()
            self._waiters = [entry for entry in self._waiters if entry[1] is not future]
            if not future.done():
                future.cancel()
        if future.cancelled():
            raise EslError(
                f"outbound session {self.peer} closed while waiting for {what}",
                error_id="esl-session-gone",
                details={"peer": self.peer},
            )
        return future.result()

    # -- commands -------------------------------------------------------------------------

    async def request(self, payload: bytes, *, timeout: float | None = None) -> Frame:  # noqa: ASYNC109
        return await self._conn.request(
            payload, timeout=self.command_timeout if timeout is None else timeout
        )

    async def command(self, payload: bytes) -> CommandReply:
        """Send a command answered by `command/reply`; `-ERR` raises `EslCommandError`."""
        frame = await self.request(payload)
        reply = CommandReply.from_frame(command_name(payload), frame)
        if not reply.ok:
            raise EslCommandError(reply.command, reply.reply_text)
        return reply

    async def connect(self) -> Event:
        """Send `connect`; the reply carries the channel's data (CHANNEL_DATA headers)."""
        frame = await self.request(encode_connect())
        if not frame.reply_text.startswith("+OK"):
            raise EslCommandError("connect", frame.reply_text)
        channel = Event.from_frame(frame) if "Event-Name" in frame.headers else Event({})
        self.channel = channel
        return channel

    async def myevents(self, fmt: EventFormat = "plain") -> CommandReply:
        """Receive every event of this channel."""
        return await self.command(encode_myevents(fmt=fmt))

    async def filter(self, header: str, value: str) -> CommandReply:
        return await self.command(encode_filter(header, value))

    async def linger(self, seconds: int | None = None) -> CommandReply:
        """Keep the socket after hang-up (until `exit`, or for `seconds`)."""
        return await self.command(encode_linger(seconds))

    async def nolinger(self) -> CommandReply:
        return await self.command(encode_nolinger())

    async def execute(
        self,
        app: str,
        arg: str | None = None,
        *,
        event_lock: bool = False,
        event_uuid: str | None = None,
        loops: int | None = None,
    ) -> CommandReply:
        """`sendmsg` execute on this channel; the app runs after the `+OK`."""
        return await self.command(
            encode_execute(app, arg, event_lock=event_lock, event_uuid=event_uuid, loops=loops)
        )

    async def execute_and_wait(
        self,
        app: str,
        arg: str | None = None,
        *,
        event_lock: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Event:
        """Execute and wait for its CHANNEL_EXECUTE_COMPLETE (matched by `Event-UUID`)."""
        event_uuid = str(uuid.uuid4())

        def finished(event: Event) -> bool:
            return (
                event.name == "CHANNEL_EXECUTE_COMPLETE"
                and event.get("Application-UUID") == event_uuid
            )

        future = self._register(finished)
        try:
            await self.execute(app, arg, event_lock=event_lock, event_uuid=event_uuid)
        except BaseException:
            self._waiters = [entry for entry in self._waiters if entry[1] is not future]
            future.cancel()
            raise
        return await self._await_event(future, timeout, f"completion of {app}")

    async def hangup(self, cause: str = "NORMAL_CLEARING") -> CommandReply:
        return await self.command(encode_hangup(cause))

    async def sendmsg(self, headers: dict[str, str], body: str | None = None) -> CommandReply:
        return await self.command(encode_sendmsg(headers, body=body))

    async def api(self, command: str) -> ApiResult:
        frame = await self.request(encode_api(command))
        if frame.content_type == COMMAND_REPLY:
            return ApiResult(command, frame.reply_text)
        return ApiResult(command, frame.text)

    async def resume(self) -> CommandReply:
        """Let the dialplan continue after the socket closes."""
        return await self.command(encode_resume())

    async def exit(self) -> CommandReply:
        """Ask FreeSWITCH to close the socket (`+OK bye`)."""
        return await self.command(encode_exit())

    async def close(self) -> None:
        """Say `exit` if the socket is still open, then close it."""
        if not self._conn.is_closed:
            with contextlib.suppress(EslError):
                await self.request(encode_exit(), timeout=min(1.0, self.command_timeout))
        await self._conn.close()
        for _, future in self._waiters:
            future.cancel()
        self._waiters.clear()


class OutboundServer:
    """Accepts FreeSWITCH `socket` connections and runs `handler(session)` for each.

    With `auto_connect` (the default) the session has already sent `connect` when the handler
    starts, so `session.channel` is set. When the handler returns the session says `exit`.
    """

    def __init__(
        self,
        handler: SessionHandler,
        host: str = "127.0.0.1",
        port: int = 8084,
        *,
        command_timeout: float = 10.0,
        queue_size: int = 1000,
        auto_connect: bool = True,
        max_sessions: int | None = None,
    ) -> None:
        self._handler = handler
        self.host = host
        self._port = port
        self.command_timeout = command_timeout
        self.queue_size = queue_size
        self.auto_connect = auto_connect
        self.max_sessions = max_sessions
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def port(self) -> int:
        """The bound port (useful with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def active_sessions(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._accept, self.host, self._port)
            log.info("ESL outbound server listening on %s:%d", self.host, self.port)

    async def serve_forever(self) -> None:
        await self.start()
        assert self._server is not None
        await self._server.serve_forever()

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> OutboundServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.max_sessions is not None and len(self._tasks) >= self.max_sessions:
            log.warning("ESL outbound: %d sessions already, refusing one", self.max_sessions)
            writer.close()
            return
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        session = OutboundSession(
            reader, writer, command_timeout=self.command_timeout, queue_size=self.queue_size
        )
        session.start()
        try:
            if self.auto_connect:
                await session.connect()
            await self._handler(session)
        except EslError as exc:
            log.warning("ESL outbound %s: %s", session.peer, exc.message)
        except Exception:
            log.exception("ESL outbound %s: session handler failed", session.peer)
        finally:
            await session.close()
            if task is not None:
                self._tasks.discard(task)
