"""asyncio Event Socket client for FreeSWITCH (inbound mode: we connect to port 8021).

`EslConnection` is one socket: a reader task that never waits on anyone, replies matched to
commands in order, events handed to a callback. `EslClient` keeps such a connection alive:
authentication, subscriptions and filters (sent again after every reconnect), `api`/`bgapi`,
`sendmsg`, a bounded event queue drained by a dispatcher task that runs the handlers, and
`on_connect`/`on_disconnect` hooks so a service can resynchronise its state.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Iterable
from typing import Any, Final, TypeVar

from prometheus_client import Counter, Gauge

from switchboard_common.esl.errors import (
    EslAuthError,
    EslCommandError,
    EslConnectionError,
    EslError,
    EslProtocolError,
    EslTimeoutError,
)
from switchboard_common.esl.protocol import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_JSON,
    EVENT_PLAIN,
    LOG_DATA,
    RUDE_REJECTION,
    ApiResult,
    CommandReply,
    Event,
    EventFormat,
    Frame,
    FrameParser,
    command_name,
    encode_api,
    encode_auth,
    encode_bgapi,
    encode_event,
    encode_execute,
    encode_exit,
    encode_filter,
    encode_filter_delete,
    encode_hangup,
    encode_log,
    encode_nixevent,
    encode_sendmsg,
)

log = logging.getLogger(__name__)

# Every wait here has a deadline, since a stalled FreeSWITCH must not hang a caller; the
# `timeout` parameters override the client's defaults per call (hence the ASYNC109 noqa).

EVENT_QUEUE_DEPTH = Gauge(
    "esl_event_queue_depth",
    "FreeSWITCH events received and not yet handled (queue lag)",
    ["link"],
)
EVENTS_RECEIVED = Counter("esl_events_received", "FreeSWITCH events received", ["link"])
EVENTS_DROPPED = Counter(
    "esl_events_dropped", "FreeSWITCH events dropped because the event queue was full", ["link"]
)
RECONNECTS = Counter("esl_reconnects", "Successful ESL reconnections", ["link"])
CONNECTED = Gauge("esl_connected", "1 while the ESL link is up", ["link"])

FREESWITCH_LOST_EVENTS_LIMIT: Final = 500
"""FreeSWITCH disconnects a listener that has lost more than this many events."""
BACKLOG_WARNING_RATIO: Final = 0.8
READ_SIZE: Final = 256 * 1024

EventHandler = Callable[[Event], Awaitable[None] | None]
LogHandler = Callable[[Frame], Awaitable[None] | None]
LinkHook = Callable[[], Awaitable[None]]
_Item = TypeVar("_Item", Event, Frame)


class EslConnection:
    """One Event Socket connection over an asyncio stream pair.

    Replies (`command/reply`, `api/response`) arrive in the order commands were written, so
    each command appends a future to a FIFO the reader resolves. A command that times out
    leaves its (cancelled) future in place, keeping later replies matched. Events go to
    `on_event`, which must not block: the reader calls it inline.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_event: Callable[[Event], None],
        on_log: Callable[[Frame], None] | None = None,
        on_disconnect_notice: Callable[[Frame], None] | None = None,
        name: str = "esl",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_event = on_event
        self._on_log = on_log
        self._on_disconnect_notice = on_disconnect_notice
        self.name = name
        self._parser = FrameParser()
        self._pending: deque[asyncio.Future[Frame]] = deque()
        self._auth_request: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._closed = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None
        self.close_reason = ""
        self.disconnect_notice: Frame | None = None
        self.lingering = False

    def start(self) -> None:
        if self._reader_task is None:
            self._reader_task = asyncio.create_task(
                self._read_loop(), name=f"esl-reader-{self.name}"
            )

    @property
    def is_closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def wait_auth_request(self, timeout: float) -> None:  # noqa: ASYNC109
        """Wait for FreeSWITCH's `auth/request` greeting (inbound mode)."""
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._auth_request)
        except TimeoutError:
            raise EslTimeoutError(
                "FreeSWITCH sent no auth/request", details={"link": self.name}
            ) from None

    async def request(self, payload: bytes, *, timeout: float) -> Frame:  # noqa: ASYNC109
        """Write one encoded command and wait for its reply frame."""
        if self._closed.is_set():
            raise EslConnectionError(
                f"ESL link {self.name} is closed: {self.close_reason}",
                details={"link": self.name, "command": command_name(payload)},
            )
        reply: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._pending.append(reply)
        try:
            self._writer.write(payload)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
                return await reply
        except TimeoutError:
            reply.cancel()
            raise EslTimeoutError(
                f"no reply to {command_name(payload)!r} within {timeout}s",
                details={"link": self.name, "command": command_name(payload)},
            ) from None
        except (ConnectionError, OSError) as exc:
            reply.cancel()
            raise EslConnectionError(
                f"ESL link {self.name} failed while sending: {exc}",
                details={"link": self.name, "command": command_name(payload)},
            ) from exc

    async def close(self) -> None:
        task = self._reader_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        else:
            self._shutdown("closed by client")
        await self._close_writer()

    async def _close_writer(self) -> None:
        writer = self._writer
        if not writer.is_closing():
            writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()

    async def _read_loop(self) -> None:
        reason = "closed by FreeSWITCH"
        try:
            while True:
                data = await self._reader.read(READ_SIZE)
                if not data:
                    try:
                        self._parser.finish()
                    except EslProtocolError as exc:
                        reason = "closed by FreeSWITCH inside a frame"
                        log.warning("ESL %s: %s %s", self.name, exc.message, exc.details)
                    break
                for frame in self._parser.feed(data):
                    self._route(frame)
        except asyncio.CancelledError:
            reason = "closed by client"
            raise
        except EslProtocolError as exc:
            reason = f"protocol error: {exc.message}"
            log.error("ESL %s: %s %s", self.name, exc.message, exc.details)
        except (ConnectionError, OSError) as exc:
            reason = f"socket error: {exc}"
        finally:
            self._shutdown(reason)
            if not self._writer.is_closing():
                self._writer.close()

    def _route(self, frame: Frame) -> None:
        content_type = frame.headers.get("Content-Type", "")
        if content_type in (EVENT_JSON, EVENT_PLAIN):
            try:
                self._on_event(Event.from_frame(frame))
            except Exception:
                log.exception("ESL %s: could not take an event in", self.name)
        elif content_type in (COMMAND_REPLY, API_RESPONSE):
            self._resolve_reply(frame)
        elif content_type == AUTH_REQUEST:
            if not self._auth_request.done():
                self._auth_request.set_result(None)
        elif content_type == DISCONNECT_NOTICE:
            self.disconnect_notice = frame
            if frame.headers.get("Content-Disposition") == "linger":
                self.lingering = True
            if self._on_disconnect_notice is not None:
                self._on_disconnect_notice(frame)
        elif content_type == RUDE_REJECTION:
            self.close_reason = f"rejected by FreeSWITCH: {frame.text.strip()}"
            if not self._auth_request.done():
                self._auth_request.set_exception(
                    EslConnectionError(self.close_reason, details={"link": self.name})
                )
        elif content_type == LOG_DATA:
            if self._on_log is not None:
                self._on_log(frame)
        else:
            log.warning("ESL %s: ignoring a frame of type %r", self.name, content_type)

    def _resolve_reply(self, frame: Frame) -> None:
        pending = self._pending
        if not pending:
            log.warning("ESL %s: reply with no command waiting: %r", self.name, frame)
            return
        waiter = pending.popleft()
        if not waiter.done():
            waiter.set_result(frame)

    def _shutdown(self, reason: str) -> None:
        if self._closed.is_set():
            return
        self.close_reason = self.close_reason or reason
        error = EslConnectionError(
            f"ESL link {self.name} lost: {self.close_reason}", details={"link": self.name}
        )
        while self._pending:
            waiter = self._pending.popleft()
            if not waiter.done():
                waiter.set_exception(error)
        if not self._auth_request.done():
            self._auth_request.set_exception(error)
        # Nobody may be waiting for the greeting any more; do not warn about it.
        self._auth_request.add_done_callback(_consume_exception)
        self._closed.set()


def _consume_exception(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class BackgroundJob:
    """A `bgapi` command FreeSWITCH accepted; `await job` (or `job.result()`) gives its output."""

    def __init__(
        self,
        command: str,
        job_uuid: str,
        future: asyncio.Future[ApiResult],
        reply: CommandReply,
        *,
        default_timeout: float,
        forget: Callable[[str], None],
    ) -> None:
        self.command = command
        self.job_uuid = job_uuid
        self.reply = reply
        self._future = future
        self._default_timeout = default_timeout
        self._forget = forget

    def done(self) -> bool:
        return self._future.done()

    async def result(self, timeout: float | None = None) -> ApiResult:  # noqa: ASYNC109
        """The BACKGROUND_JOB body as an `ApiResult` (its `ok` tells `+OK` from `-ERR`)."""
        limit = self._default_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(self._future)
        except TimeoutError:
            self._forget(self.job_uuid)
            raise EslTimeoutError(
                f"no BACKGROUND_JOB for {self.command!r} within {limit}s",
                details={"job_uuid": self.job_uuid, "command": self.command},
            ) from None

    def __await__(self) -> Generator[object, None, ApiResult]:
        return self.result().__await__()


class EslClient:
    """A resilient inbound Event Socket client.

    >>> client = EslClient("127.0.0.1", 8021, "ClueCon", events=["CHANNEL_CREATE"])
    >>> client.on("CHANNEL_CREATE", handle_create)
    >>> await client.connect()
    >>> status = await client.api_ok("status")
    >>> job = await client.bgapi("originate user/1000 &park()")
    >>> result = await job

    Events are queued (bounded) by the reader and handled one by one, in order, by a
    dispatcher task; a full queue drops the newest events and counts them. After a lost
    connection the client reconnects with exponential backoff and jitter, authenticates,
    subscribes and filters again, then runs the `on_connect` hooks.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8021,
        password: str = "ClueCon",
        *,
        events: Iterable[str] = (),
        custom_subclasses: Iterable[str] = (),
        event_format: EventFormat = "json",
        filters: Iterable[tuple[str, str]] = (),
        log_level: str | None = None,
        command_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        job_timeout: float = 120.0,
        reconnect: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        queue_size: int = 10_000,
        link_name: str | None = None,
        on_connect: LinkHook | None = None,
        on_disconnect: LinkHook | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._password = password
        self._events: list[str] = []
        self._custom: list[str] = []
        self._add_names(events, custom_subclasses)
        self.event_format: EventFormat = event_format
        self._filters: list[tuple[str, str]] = list(dict.fromkeys(filters))
        self._log_level = log_level
        self.command_timeout = command_timeout
        self.connect_timeout = connect_timeout
        self.job_timeout = job_timeout
        self.reconnect = reconnect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.link_name = link_name or f"{host}:{port}"

        self._conn: EslConnection | None = None
        self._closing = False
        self._connected = asyncio.Event()
        self._jobs: dict[str, tuple[str, asyncio.Future[ApiResult]]] = {}
        self._handlers: dict[str, list[EventHandler]] = {}
        self._log_handlers: list[LogHandler] = []
        self._connect_hooks: list[LinkHook] = [] if on_connect is None else [on_connect]
        self._disconnect_hooks: list[LinkHook] = [] if on_disconnect is None else [on_disconnect]
        self._queue: asyncio.Queue[Event | Frame] = asyncio.Queue(maxsize=queue_size)
        self._dispatcher: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._backlog_warned = False
        self._backlog_warning_at = max(1, int(FREESWITCH_LOST_EVENTS_LIMIT * BACKLOG_WARNING_RATIO))
        self._dropped = 0

        self._depth_gauge = EVENT_QUEUE_DEPTH.labels(self.link_name)
        self._received_counter = EVENTS_RECEIVED.labels(self.link_name)
        self._dropped_counter = EVENTS_DROPPED.labels(self.link_name)
        self._reconnect_counter = RECONNECTS.labels(self.link_name)
        self._connected_gauge = CONNECTED.labels(self.link_name)

    # -- registration ---------------------------------------------------------------------

    def on(self, name: str, handler: EventHandler) -> None:
        """Run `handler` for events named `name`, a CUSTOM subclass name, or `*` for all."""
        self._handlers.setdefault(name, []).append(handler)

    def off(self, name: str, handler: EventHandler) -> None:
        handlers = self._handlers.get(name, [])
        if handler in handlers:
            handlers.remove(handler)

    def on_log(self, handler: LogHandler) -> None:
        """Receive `log/data` frames (needs `log_level`)."""
        self._log_handlers.append(handler)

    def add_connect_hook(self, hook: LinkHook) -> None:
        """Awaited after each (re)connection, once subscriptions are in place."""
        self._connect_hooks.append(hook)

    def add_disconnect_hook(self, hook: LinkHook) -> None:
        """Awaited when the link drops (not on `close()`), before reconnecting."""
        self._disconnect_hooks.append(hook)

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.is_closed

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize()

    @property
    def dropped_events(self) -> int:
        return self._dropped

    async def connect(self) -> None:
        """Connect and authenticate once (errors are raised), then stay connected."""
        self._closing = False
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(
                self._dispatch_loop(), name=f"esl-dispatch-{self.link_name}"
            )
        await self._open()
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.create_task(
                self._supervise(), name=f"esl-supervise-{self.link_name}"
            )

    async def wait_idle(self) -> None:
        """Wait until every event queued so far has been through its handlers."""
        await self._queue.join()

    async def wait_connected(self, timeout: float) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                await self._connected.wait()
        except TimeoutError:
            raise EslTimeoutError(
                f"ESL link {self.link_name} not connected within {timeout}s",
                details={"link": self.link_name},
            ) from None

    async def close(self) -> None:
        """Say `exit`, close the socket and stop the background tasks."""
        self._closing = True
        supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None:
            supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await supervisor
        conn = self._conn
        if conn is not None and not conn.is_closed:
            with contextlib.suppress(EslError):
                await conn.request(encode_exit(), timeout=min(1.0, self.command_timeout))
            await conn.close()
        self._link_lost()
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dispatcher

    async def __aenter__(self) -> EslClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _open(self) -> None:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.connect_timeout
            )
        except (OSError, TimeoutError) as exc:
            raise EslConnectionError(
                f"cannot reach FreeSWITCH at {self.host}:{self.port}: {exc or 'timeout'}",
                details={"link": self.link_name},
            ) from exc
        conn = EslConnection(
            reader,
            writer,
            on_event=self._take_event,
            on_log=self._take_log,
            name=self.link_name,
        )
        conn.start()
        try:
            await conn.wait_auth_request(self.connect_timeout)
            reply = await conn.request(encode_auth(self._password), timeout=self.command_timeout)
            if not reply.reply_text.startswith("+OK"):
                raise EslAuthError(reply.reply_text, details={"link": self.link_name})
            await self._apply_subscriptions(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        self._connected.set()
        self._connected_gauge.set(1)
        log.info("ESL %s connected", self.link_name)
        await self._run_hooks(self._connect_hooks, "on_connect")

    async def _apply_subscriptions(self, conn: EslConnection) -> None:
        for payload in self.subscription_commands():
            frame = await conn.request(payload, timeout=self.command_timeout)
            if not frame.reply_text.startswith("+OK"):
                raise EslCommandError(command_name(payload), frame.reply_text)

    def subscription_commands(self) -> list[bytes]:
        """What the client sends after authenticating, on every (re)connection."""
        commands = [encode_event(self._event_words(), self.event_format)]
        if self._filters:
            # With any filter set FreeSWITCH drops what matches none: keep bgapi results.
            commands.append(encode_filter("Event-Name", "BACKGROUND_JOB"))
            commands.extend(encode_filter(header, value) for header, value in self._filters)
        if self._log_level is not None:
            commands.append(encode_log(self._log_level))
        return commands

    def _event_words(self) -> list[str]:
        if "ALL" in self._events:
            return ["ALL"]
        words = [*self._events]
        if "BACKGROUND_JOB" not in words:
            words.append("BACKGROUND_JOB")
        if self._custom:
            words += ["CUSTOM", *self._custom]
        return words

    def _add_names(self, events: Iterable[str], custom: Iterable[str]) -> None:
        for name in events:
            if name != "CUSTOM" and name not in self._events:
                self._events.append(name)
        for subclass in custom:
            if subclass not in self._custom:
                self._custom.append(subclass)

    async def _supervise(self) -> None:
        while True:
            conn = self._conn
            if conn is not None:
                await conn.wait_closed()
            self._link_lost()
            if self._closing:
                return
            reason = conn.close_reason if conn is not None else "not connected"
            log.warning("ESL %s lost: %s", self.link_name, reason)
            await self._run_hooks(self._disconnect_hooks, "on_disconnect")
            if not self.reconnect:
                return
            attempt = 0
            while not self._closing:
                await asyncio.sleep(self.backoff_delay(attempt))
                attempt += 1
                try:
                    await self._open()
                except EslAuthError as exc:
                    log.error("ESL %s: %s", self.link_name, exc.message)
                except (EslError, OSError) as exc:
                    log.warning(
                        "ESL %s reconnect attempt %d failed: %s", self.link_name, attempt, exc
                    )
                else:
                    self._reconnect_counter.inc()
                    break

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff capped at `backoff_max`, with jitter (50-100% of the step)."""
        step = min(self.backoff_max, self.backoff_initial * (1 << min(attempt, 32)))
        return step * random.uniform(0.5, 1.0)

    def _link_lost(self) -> None:
        self._connected.clear()
        self._connected_gauge.set(0)
        if self._jobs:
            error = EslConnectionError(
                f"ESL link {self.link_name} lost before the background job finished",
                details={"link": self.link_name},
            )
            for _, future in self._jobs.values():
                if not future.done():
                    future.set_exception(error)
                    future.add_done_callback(_consume_exception)
            self._jobs.clear()

    async def _run_hooks(self, hooks: list[LinkHook], kind: str) -> None:
        for hook in list(hooks):
            try:
                await hook()
            except Exception:
                log.exception("ESL %s: %s hook %r failed", self.link_name, kind, hook)

    # -- events ---------------------------------------------------------------------------

    def _take_event(self, event: Event) -> None:
        """Called inline by the reader: resolve bgapi jobs, queue the event, never block."""
        self._received_counter.inc()
        if event.name == "BACKGROUND_JOB":
            job_uuid = event.job_uuid
            entry = self._jobs.pop(job_uuid, None) if job_uuid else None
            if entry is not None and not entry[1].done():
                entry[1].set_result(ApiResult(entry[0], event.body or ""))
        self._enqueue(event)

    def _take_log(self, frame: Frame) -> None:
        if self._log_handlers:
            self._enqueue(frame)

    def _enqueue(self, item: Event | Frame) -> None:
        queue = self._queue
        try:
            queue.put_nowait(item)
        except asyncio.QueueFull:
            self._dropped += 1
            self._dropped_counter.inc()
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.warning(
                    "ESL %s: event queue full (%d), %d events dropped so far",
                    self.link_name,
                    queue.maxsize,
                    self._dropped,
                )
        depth = queue.qsize()
        self._depth_gauge.set(depth)
        if depth >= self._backlog_warning_at:
            if not self._backlog_warned:
                self._backlog_warned = True
                log.warning(
                    "ESL %s: %d events waiting for handlers; FreeSWITCH drops a listener "
                    "that falls %d events behind",
                    self.link_name,
                    depth,
                    FREESWITCH_LOST_EVENTS_LIMIT,
                )
        elif depth < self._backlog_warning_at // 2:
            self._backlog_warned = False

    async def _dispatch_loop(self) -> None:
        queue = self._queue
        while True:
            item = await queue.get()
            self._depth_gauge.set(queue.qsize())
            try:
                if isinstance(item, Event):
                    for handler in self._handlers_for(item):
                        await self._call(handler, item)
                else:
                    for log_handler in list(self._log_handlers):
                        await self._call(log_handler, item)
            finally:
                queue.task_done()

    async def _call(self, handler: Callable[[_Item], Awaitable[None] | None], item: _Item) -> None:
        try:
            result = handler(item)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("ESL %s: handler %r failed on %r", self.link_name, handler, item)

    def _handlers_for(self, event: Event) -> list[EventHandler]:
        handlers = self._handlers
        name = event.name
        found = list(handlers.get(name, ()))
        if name == "CUSTOM":
            subclass = event.subclass
            if subclass:
                found += handlers.get(subclass, ())
        found += handlers.get("*", ())
        return found

    # -- commands -------------------------------------------------------------------------

    def _live(self, what: str) -> EslConnection:
        conn = self._conn
        if conn is None or conn.is_closed:
            raise EslConnectionError(
                f"not connected to FreeSWITCH at {self.link_name}",
                details={"link": self.link_name, "command": what},
            )
        return conn

    async def request(self, payload: bytes, *, timeout: float | None = None) -> Frame:  # noqa: ASYNC109
        """Send an encoded command (see the `encode_*` functions) and return the reply frame."""
        conn = self._live(command_name(payload))
        return await conn.request(
            payload, timeout=self.command_timeout if timeout is None else timeout
        )

    async def command(self, payload: bytes, *, timeout: float | None = None) -> CommandReply:  # noqa: ASYNC109
        """Send a command answered by `command/reply`; `-ERR` raises `EslCommandError`."""
        frame = await self.request(payload, timeout=timeout)
        reply = CommandReply.from_frame(command_name(payload), frame)
        if not reply.ok:
            raise EslCommandError(reply.command, reply.reply_text)
        return reply

    async def api(self, command: str, *, timeout: float | None = None) -> ApiResult:  # noqa: ASYNC109
        """Run `api <command>`; the result says whether FreeSWITCH answered `-ERR`."""
        frame = await self.request(encode_api(command), timeout=timeout)
        if frame.content_type == COMMAND_REPLY:  # e.g. a socket-level `-ERR`
            return ApiResult(command, frame.reply_text)
        return ApiResult(command, frame.text)

    async def api_ok(self, command: str, *, timeout: float | None = None) -> str:  # noqa: ASYNC109
        """Run `api <command>` and return its text; `-ERR ...` raises `EslCommandError`."""
        result = await self.api(command, timeout=timeout)
        if not result.ok:
            raise EslCommandError(command, result.text.strip())
        return result.value

    async def bgapi(
        self,
        command: str,
        *,
        job_uuid: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> BackgroundJob:
        """Start `bgapi <command>` with our own Job-UUID; await the returned job for its output.

        `timeout` bounds the command reply; the job's own wait defaults to `job_timeout`.
        """
        job_id = job_uuid or str(uuid.uuid4())
        conn = self._live("bgapi")
        if job_id in self._jobs:
            raise EslCommandError(command, f"Job-UUID {job_id} is already waiting")
        future: asyncio.Future[ApiResult] = asyncio.get_running_loop().create_future()
        self._jobs[job_id] = (command, future)
        try:
            frame = await conn.request(
                encode_bgapi(command, job_id),
                timeout=self.command_timeout if timeout is None else timeout,
            )
        except BaseException:
            self._jobs.pop(job_id, None)
            raise
        reply = CommandReply.from_frame(f"bgapi {command}", frame)
        if not reply.ok:
            self._jobs.pop(job_id, None)
            raise EslCommandError(reply.command, reply.reply_text)
        return BackgroundJob(
            command,
            job_id,
            future,
            reply,
            default_timeout=self.job_timeout,
            forget=self._forget_job,
        )

    def _forget_job(self, job_uuid: str) -> None:
        self._jobs.pop(job_uuid, None)

    async def subscribe(self, *events: str, custom_subclasses: Iterable[str] = ()) -> None:
        """Add events (and CUSTOM subclasses) to the subscription, now and after reconnects."""
        self._add_names(events, custom_subclasses)
        if self.connected:
            await self.command(encode_event(self._event_words(), self.event_format))

    async def unsubscribe(self, *events: str) -> None:
        """`nixevent`: stop receiving these events (BACKGROUND_JOB is kept for bgapi)."""
        names = [name for name in events if name != "BACKGROUND_JOB"]
        self._events = [name for name in self._events if name not in names]
        self._custom = [name for name in self._custom if name not in names]
        if self.connected and names:
            await self.command(encode_nixevent(names))

    async def add_filter(self, header: str, value: str) -> None:
        """Receive only events matching at least one filter (kept across reconnects)."""
        first = not self._filters
        if (header, value) not in self._filters:
            self._filters.append((header, value))
        if self.connected:
            if first:
                await self.command(encode_filter("Event-Name", "BACKGROUND_JOB"))
            await self.command(encode_filter(header, value))

    async def remove_filter(self, header: str, value: str | None = None) -> None:
        self._filters = [
            (name, val)
            for name, val in self._filters
            if not (name == header and (value is None or val == value))
        ]
        if self.connected:
            await self.command(encode_filter_delete(header, value))

    async def sendmsg(
        self, uuid: str, headers: dict[str, str], body: str | None = None
    ) -> CommandReply:
        return await self.command(encode_sendmsg(headers, uuid=uuid, body=body))

    async def execute(
        self,
        uuid: str,
        app: str,
        arg: str | None = None,
        *,
        event_lock: bool = False,
        event_uuid: str | None = None,
        loops: int | None = None,
    ) -> CommandReply:
        """Run a dialplan application on channel `uuid` (`sendmsg` call-command execute)."""
        return await self.command(
            encode_execute(
                app, arg, uuid=uuid, event_lock=event_lock, event_uuid=event_uuid, loops=loops
            )
        )

    async def hangup(self, uuid: str, cause: str = "NORMAL_CLEARING") -> CommandReply:
        return await self.command(encode_hangup(cause, uuid=uuid))
