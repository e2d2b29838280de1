"""The asyncio side: the inbound ESL server, outbound `socket` connections, the real-time
driver of the virtual clock, the mod_xml_curl client and the small `/stats` HTTP endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from switchboard_common.errors import UpstreamError
from switchboard_simulator.channel import Channel
from switchboard_simulator.dialplan import (
    DialplanCallback,
    DialplanRequest,
    parse_xml_dialplan,
)
from switchboard_simulator.wire import (
    DISCONNECT_GOODBYE,
    Command,
    CommandReader,
    Event,
    api_response,
    auth_request,
    command_reply,
    connect_reply,
    disconnect_notice,
    event_frame,
    linger_notice,
)
from switchboard_simulator.world import World

log = logging.getLogger(__name__)

EVENT_NAMES = frozenset(
    [
        "CUSTOM",
        "CLONE",
        "CHANNEL_CREATE",
        "CHANNEL_DESTROY",
        "CHANNEL_STATE",
        "CHANNEL_CALLSTATE",
        "CHANNEL_ANSWER",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HOLD",
        "CHANNEL_UNHOLD",
        "CHANNEL_BRIDGE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_UNPARK",
        "CHANNEL_APPLICATION",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "API",
        "LOG",
        "INBOUND_CHAN",
        "OUTBOUND_CHAN",
        "STARTUP",
        "SHUTDOWN",
        "PUBLISH",
        "UNPUBLISH",
        "TALK",
        "NOTALK",
        "SESSION_CRASH",
        "MODULE_LOAD",
        "MODULE_UNLOAD",
        "DTMF",
        "MESSAGE",
        "PRESENCE_IN",
        "NOTIFY_IN",
        "PRESENCE_OUT",
        "PRESENCE_PROBE",
        "MESSAGE_WAITING",
        "MESSAGE_QUERY",
        "ROSTER",
        "CODEC",
        "BACKGROUND_JOB",
        "DETECTED_SPEECH",
        "DETECTED_TONE",
        "PRIVATE_COMMAND",
        "HEARTBEAT",
        "TRAP",
        "ADD_SCHEDULE",
        "DEL_SCHEDULE",
        "EXE_SCHEDULE",
        "RE_SCHEDULE",
        "RELOADXML",
        "NOTIFY",
        "PHONE_FEATURE",
        "PHONE_FEATURE_SUBSCRIBE",
        "SEND_MESSAGE",
        "RECV_MESSAGE",
        "REQUEST_PARAMS",
        "CHANNEL_DATA",
        "GENERAL",
        "COMMAND",
        "SESSION_HEARTBEAT",
        "CLIENT_DISCONNECTED",
        "SERVER_DISCONNECTED",
        "SEND_INFO",
        "RECV_INFO",
        "RECV_RTCP_MESSAGE",
        "SEND_RTCP_MESSAGE",
        "CALL_SECURE",
        "NAT",
        "RECORD_START",
        "RECORD_STOP",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CALL_UPDATE",
        "FAILURE",
        "SOCKET_DATA",
        "MEDIA_BUG_START",
        "MEDIA_BUG_STOP",
        "CONFERENCE_DATA_QUERY",
        "CONFERENCE_DATA",
        "CALL_SETUP_REQ",
        "CALL_SETUP_RESULT",
        "CALL_DETAIL",
        "DEVICE_STATE",
        "TEXT",
        "SHUTDOWN_REQUESTED",
        "ALL",
    ]
)

MYEVENTS = frozenset(
    [
        "CHANNEL_ANSWER",
        "CHANNEL_APPLICATION",
        "CHANNEL_BRIDGE",
        "CHANNEL_CREATE",
        "CHANNEL_DATA",
        "CHANNEL_DESTROY",
        "CHANNEL_EXECUTE",
        "CHANNEL_EXECUTE_COMPLETE",
        "CHANNEL_HANGUP",
        "CHANNEL_HANGUP_COMPLETE",
        "CHANNEL_ORIGINATE",
        "CHANNEL_UUID",
        "CHANNEL_OUTGOING",
        "CHANNEL_PARK",
        "CHANNEL_PROGRESS",
        "CHANNEL_PROGRESS_MEDIA",
        "CHANNEL_STATE",
        "CHANNEL_UNBRIDGE",
        "CHANNEL_UNPARK",
        "DETECTED_SPEECH",
        "DTMF",
        "NOTALK",
        "TALK",
    ]
)

MAX_QUEUED_EVENTS = 100_000


class Driver:
    """Moves the world's virtual clock along with the event loop's clock."""

    def __init__(self, world: World, speed: float = 1.0) -> None:
        self.world = world
        self.speed = speed
        self._loop = asyncio.get_running_loop()
        self._origin_real = self._loop.time()
        self._origin_virtual = world.now_us
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        world.scheduler.on_schedule = self._wake.set

    def virtual_now(self) -> int:
        elapsed = (self._loop.time() - self._origin_real) * self.speed
        return self._origin_virtual + round(elapsed * 1_000_000)

    def sync(self) -> None:
        """Run everything due up to the present moment."""
        self.world.scheduler.run_until(max(self.virtual_now(), self.world.now_us))

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sim-driver")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        timer: asyncio.TimerHandle | None = None
        while not self._stopping:
            self._wake.clear()
            try:
                self.sync()
            except Exception:
                log.exception("a simulated task failed; the simulator carries on")
            if timer is not None:
                timer.cancel()
                timer = None
            due = self.world.scheduler.next_due_us()
            if due is not None:
                delay = max(0.0, (due - self.virtual_now()) / 1_000_000 / self.speed)
                timer = self._loop.call_later(delay, self._wake.set)
            await self._wake.wait()
        if timer is not None:
            timer.cancel()


class XmlCurlResolver:
    """Asks an HTTP URL for the dialplan the way mod_xml_curl does (form POST, XML reply).

    With a `secret`, requests carry it as HTTP basic auth (user `freeswitch`, like
    mod_xml_curl's `gateway-credentials`) and as an `X-Switchboard-Secret` header. When the
    URL cannot be reached, answers with an error status, or sends something that is not
    XML, the call falls back to the static map (FreeSWITCH falls back to its static XML
    configuration) and a warning is logged.
    """

    def __init__(
        self,
        url: str,
        driver_ref: Callable[[], Driver | None],
        fallback: Callable[[DialplanRequest, DialplanCallback], None],
        timeout_s: float = 5.0,
        secret: str | None = None,
    ) -> None:
        self.url = url
        self._driver_ref = driver_ref
        self._fallback = fallback
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        auth: httpx.BasicAuth | None = None
        if secret:
            headers["X-Switchboard-Secret"] = secret
            auth = httpx.BasicAuth("freeswitch", secret)
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=headers, auth=auth)
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests = 0
        self.fallbacks = 0
        self._failing = False

    def __call__(self, request: DialplanRequest, callback: DialplanCallback) -> None:
        task = asyncio.get_running_loop().create_task(self._fetch(request, callback))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, request: DialplanRequest, callback: DialplanCallback) -> None:
        self.requests += 1
        body = urlencode(request.form_fields(), quote_via=quote)
        try:
            response = await self._client.post(self.url, content=body)
            if response.status_code != 200:
                raise UpstreamError(
                    f"HTTP {response.status_code}",
                    error_id="dialplan-http-error",
                    details={"status": response.status_code},
                )
            decision = parse_xml_dialplan(response.text, request.destination_number)
        except (httpx.HTTPError, UpstreamError) as error:
            self.fallbacks += 1
            level = logging.DEBUG if self._failing else logging.WARNING
            self._failing = True
            log.log(
                level,
                "dialplan URL %s failed for %s (%s); using the static map until it answers",
                self.url,
                request.destination_number,
                getattr(error, "message", None) or repr(error),
            )
            self._sync()
            self._fallback(request, callback)
            return
        if self._failing:
            self._failing = False
            log.info("dialplan URL %s answers again", self.url)
        self._sync()
        callback(decision)

    def _sync(self) -> None:
        driver = self._driver_ref()
        if driver is not None:
            driver.sync()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self._client.aclose()


@dataclass
class _Subscription:
    names: set[str] = field(default_factory=set)
    custom: set[str] = field(default_factory=set)
    filters: list[tuple[str, str]] = field(default_factory=list)
    enabled: bool = False
    all_custom: bool = False
    """Every CUSTOM subclass: set by `event ... ALL` and kept when a later `nixevent`
    turns ALL into the list of every other name (trace-cc: callcenter::info still arrives
    after `event plain ALL` + `nixevent HEARTBEAT RE_SCHEDULE`)."""

    def wants(self, event: Event) -> bool:
        if not self.enabled:
            return False
        if "ALL" not in self.names:
            if event.name not in self.names:
                return False
            if (
                event.name == "CUSTOM"
                and event.subclass
                and not self.all_custom
                and event.subclass not in self.custom
            ):
                return False
        if self.filters:
            return _passes_filters(event, self.filters)
        return True


def _passes_filters(event: Event, filters: list[tuple[str, str]]) -> bool:
    import re

    send = False
    for name, value in filters:
        actual = event.get(name)
        if actual is None:
            continue
        positive = True
        compare = value
        while compare and compare[0] in "+- ":
            if compare[0] == "-":
                positive = False
            elif compare[0] == "+":
                positive = True
            compare = compare[1:]
        if send and positive:
            continue
        if value.startswith("/"):
            pattern = compare.strip("/")
            matched = re.search(pattern, actual) is not None
        else:
            matched = actual.lower() == compare.lower()
        if matched:
            if positive:
                send = True
            else:
                return False
    return send


class EslConnection:
    """One ESL client, inbound (it connected to us) or outbound (we dialled it)."""

    def __init__(
        self,
        server: SimulatorServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        channel: Channel | None = None,
        async_mode: bool = True,
        full: bool = True,
    ) -> None:
        self.server = server
        self.world = server.world
        self.reader = reader
        self.writer = writer
        self.channel = channel
        self.outbound = channel is not None
        self.async_mode = async_mode
        self.full = full
        self.authed = self.outbound
        self.format = "plain"
        self.sub = _Subscription()
        self.myevents_uuid: str | None = None
        self.linger: int | None = None
        self.connected = False
        self.running = True
        self._deferred: list[bytes] | None = None
        self._replies: list[bytes] = []
        self._session_over = False
        self._queued = 0

    # ---------------------------------------------------------------- output

    def _write(self, data: bytes) -> None:
        if self._deferred is not None:
            self._deferred.append(data)
        elif not self.writer.is_closing():
            self.writer.write(data)

    def on_event(self, event: Event) -> None:
        uuid = event.get("Unique-ID")
        if self.outbound and self.channel is not None and uuid == self.channel.uuid:
            if self._session_over:
                return
            if event.name == "CHANNEL_HANGUP_COMPLETE":
                self._deliver(event)
                self._session_over = True
                self.server.loop.call_soon(self._channel_gone)
                return
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        if not self.sub.wants(event):
            return
        if self.myevents_uuid is not None and event.get("Unique-ID") != self.myevents_uuid:
            return
        self._write(event_frame(event, self.format))

    def _channel_gone(self) -> None:
        if not self.running or self.channel is None:
            return
        if self.linger is not None:
            self._write(linger_notice(self.channel.uuid, self.channel.name, self.linger))
            if self.linger >= 0:
                self.server.loop.call_later(self.linger, self._close_with_goodbye)
            return
        self._close_with_goodbye()

    def _close_with_goodbye(self) -> None:
        if not self.running:
            return
        uuid = self.channel.uuid if self.channel is not None else None
        self._write(disconnect_notice(DISCONNECT_GOODBYE, uuid))
        self._shutdown()

    def _shutdown(self) -> None:
        self.running = False
        self.world.remove_sink(self.on_event)
        with contextlib.suppress(Exception):
            self.writer.close()

    # ----------------------------------------------------------------- input

    async def serve(self) -> None:
        self.world.add_sink(self.on_event)
        command_reader = CommandReader()
        try:
            if not self.outbound:
                self._write(auth_request())
            while self.running:
                data = await self.reader.read(65536)
                if not data:
                    break
                for command in command_reader.feed(data):
                    await self._handle(command)
                    if not self.running:
                        break
                await self.writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.running = False
            self.world.remove_sink(self.on_event)
            with contextlib.suppress(Exception):
                self.writer.close()

    async def _handle(self, command: Command) -> None:
        self.server.driver.sync()
        self._deferred = []
        self._replies = []
        try:
            await self._dispatch(command)
        finally:
            events, self._deferred = self._deferred, None
            replies, self._replies = self._replies, []
            for chunk in replies + events:
                self._write(chunk)

    def _reply_first(self, data: bytes) -> None:
        """Replies go before the events that the same command caused."""
        self._replies.append(data)

    async def _dispatch(self, command: Command) -> None:
        line = command.line.strip()
        lowered = line.lower()
        if lowered.startswith(("exit", "...")):
            self._reply_first(command_reply("+OK bye"))
            self._after_exit()
            return
        if not self.authed:
            if lowered.startswith("auth "):
                if line[5:] == self.server.password:
                    self.authed = True
                    self._reply_first(command_reply("+OK accepted"))
                else:
                    self._reply_first(command_reply("-ERR invalid"))
                    self._reply_first(disconnect_notice(DISCONNECT_GOODBYE))
                    self.running = False
                return
            self._reply_first(command_reply("-ERR command not found"))
            return
        if self.outbound and lowered.startswith("connect"):
            self._connect()
            return
        if lowered.startswith("filter "):
            self._filter(line[7:])
        elif self.outbound and lowered.startswith("resume"):
            if self.channel is not None:
                self.channel.set_var("socket_resume", "true")
            self._reply_first(command_reply("+OK"))
        elif lowered.startswith("myevents"):
            self._myevents(line)
        elif self.outbound and lowered.startswith("getvar"):
            name = line.split(" ", 1)[1] if " " in line else ""
            value = self.channel.get_var(name) if self.channel is not None else None
            self._reply_first(command_reply(value or ""))
        elif lowered.startswith("sendmsg"):
            self._sendmsg(line, command)
        elif lowered.startswith("api "):
            await self._api(line[4:])
        elif lowered.startswith("bgapi "):
            self._bgapi(line[6:], command)
        elif lowered.startswith("linger"):
            self._linger(line)
        elif lowered.startswith("nolinger"):
            if self.outbound:
                self.linger = None
                self._reply_first(command_reply("+OK will not linger"))
            else:
                self._reply_first(command_reply("-ERR not controlling a session"))
        elif lowered.startswith("nixevent"):
            self._nixevent(line)
        elif lowered.startswith("noevents"):
            if self.sub.enabled:
                self.sub = _Subscription()
                self._reply_first(command_reply("+OK no longer listening for events"))
            else:
                self._reply_first(command_reply("-ERR not listening for events"))
        elif lowered.startswith("event"):
            self._event(line)
        elif lowered.startswith("log") or lowered.startswith("nolog"):
            self._reply_first(
                command_reply(
                    "+OK log level  [7]" if lowered.startswith("log") else "-ERR not loging"
                )
            )
        else:
            self._reply_first(command_reply("-ERR command not found"))

    def _after_exit(self) -> None:
        uuid = self.channel.uuid if self.channel is not None else None
        self._reply_first(disconnect_notice(DISCONNECT_GOODBYE, uuid))
        self.running = False

    def _connect(self) -> None:
        channel = self.channel
        if channel is None:
            return
        headers = self.server.channel_data_headers(channel)
        self._reply_first(connect_reply(headers, self.async_mode, self.full))
        if not self.connected:
            self.connected = True
            self.world.socket_connected(channel)

    def _filter(self, rest: str) -> None:
        rest = rest.strip()
        name, _, value = rest.partition(" ")
        if name.lower() == "delete" and value:
            name, _, value = value.partition(" ")
            if name.lower() == "all":
                self.sub.filters.clear()
            else:
                self.sub.filters = [
                    (key, val)
                    for key, val in self.sub.filters
                    if not (key == name and (not value or val == value))
                ]
            self._reply_first(command_reply(f"+OK filter deleted. [{name}][{value}]"))
            return
        if value:
            if name.lower() == "add":
                name, _, value = value.partition(" ")
            self.sub.filters.append((name, value))
            self._reply_first(command_reply(f"+OK filter added. [{name}]=[{value}]"))
            return
        self._reply_first(command_reply("-ERR invalid syntax"))

    def _myevents(self, line: str) -> None:
        if self.myevents_uuid is not None:
            self._reply_first(command_reply("-ERR aready enabled."))
            return
        words = line.split()
        if self.outbound and self.channel is not None:
            self.myevents_uuid = self.channel.uuid
        elif len(words) >= 2:
            if words[1] not in self.world.channels and len(words) > 2:
                self._reply_first(command_reply("-ERR invalid uuid"))
                return
            self.myevents_uuid = words[1]
        else:
            self._reply_first(command_reply("-ERR command not found"))
            return
        if "json" in line.lower():
            self.format = "json"
        self.sub.names |= MYEVENTS
        self.sub.enabled = True
        self._reply_first(command_reply("+OK Events Enabled"))

    def _event(self, line: str) -> None:
        words = line.split()[1:]
        count = 0
        custom = False
        for index, word in enumerate(words):
            if index == 0 and word.lower() in ("plain", "json", "xml"):
                self.format = word.lower()
                continue
            if custom:
                self.sub.custom.add(word)
                continue
            upper = word.upper()
            if upper in EVENT_NAMES:
                count += 1
                self.sub.names.add(upper)
                if upper == "CUSTOM":
                    custom = True
                elif upper == "ALL":
                    self.sub.all_custom = True
        if not count:
            self._reply_first(command_reply("-ERR no keywords supplied"))
            return
        self.sub.enabled = True
        self._reply_first(command_reply(f"+OK event listener enabled {self.format}"))

    def _nixevent(self, line: str) -> None:
        words = line.split()[1:]
        count = 0
        custom = False
        for word in words:
            if custom:
                self.sub.custom.discard(word)
                continue
            upper = word.upper()
            if upper not in EVENT_NAMES:
                continue
            count += 1
            if upper == "CUSTOM":
                custom = True
            elif upper == "ALL":
                self.sub.names.clear()
                self.sub.all_custom = False
            else:
                if "ALL" in self.sub.names:
                    self.sub.names = set(EVENT_NAMES) - {"ALL"}
                self.sub.names.discard(upper)
        if not count:
            self._reply_first(command_reply("-ERR no keywords supplied"))
            return
        self.sub.enabled = True
        self._reply_first(command_reply("+OK events nixed"))

    def _linger(self, line: str) -> None:
        if not self.outbound:
            self._reply_first(command_reply("-ERR not controlling a session"))
            return
        argument = line[6:].strip()
        if argument:
            self.linger = int(argument) if argument.lstrip("-").isdigit() else 600
            self._reply_first(command_reply(f"+OK will linger {self.linger} seconds"))
        else:
            self.linger = -1
            self._reply_first(command_reply("+OK will linger"))

    def _sendmsg(self, line: str, command: Command) -> None:
        uuid = line[7:].strip() or command.header("session-id") or ""
        if not uuid and self.channel is not None:
            uuid = self.channel.uuid
        headers = {key.lower(): value for key, value in command.headers}
        if command.body and headers.get("execute-app-arg") is None:
            headers["execute-app-arg"] = command.body
        if not uuid:
            self._reply_first(command_reply("-ERR invalid session id []"))
            return
        self._reply_first(command_reply(self.world.sendmsg(uuid, headers)))

    async def _api(self, text: str) -> None:
        name, _, argument = text.partition(" ")
        future: asyncio.Future[str] = self.server.loop.create_future()

        def done(reply: str) -> None:
            if not future.done():
                future.set_result(reply)

        self.world.execute_api(name, argument or None, done)
        reply = await future
        self._reply_first(api_response(reply or "-ERR no reply\n"))

    def _bgapi(self, text: str, command: Command) -> None:
        name, _, argument = text.partition(" ")
        job_uuid = command.header("Job-UUID") or self.world.new_uuid()
        self._reply_first(command_reply(f"+OK Job-UUID: {job_uuid}", [("Job-UUID", job_uuid)]))

        def run() -> None:
            def done(reply: str) -> None:
                event_headers = [("Job-UUID", job_uuid), ("Job-Command", name)]
                if argument:
                    event_headers.append(("Job-Command-Arg", argument))
                self.world.emit(
                    "BACKGROUND_JOB",
                    after=event_headers,
                    body=reply or "Command returned no output!",
                )

            self.world.execute_api(name, argument or None, done)

        self.world.scheduler.call_later(0, run)


class SimulatorServer:
    """Owns the listening socket, the driver and the outbound connections."""

    def __init__(
        self,
        world: World,
        *,
        password: str,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
    ) -> None:
        self.world = world
        self.password = password
        self.host = host
        self.port = port
        self.speed = speed
        self.loop = asyncio.get_running_loop()
        self.driver = Driver(world, speed)
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        world.socket_hook = self._on_socket_app

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self.driver.start()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        for task in list(self._connections):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.driver.stop()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = EslConnection(self, reader, writer)
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        try:
            await connection.serve()
        except asyncio.CancelledError:
            log.debug("ESL connection closed by the simulator's shutdown")
        finally:
            if task is not None:
                self._connections.discard(task)

    def channel_data_headers(self, channel: Channel) -> list[tuple[str, str]]:
        headers = self.world._core_headers(
            "CHANNEL_DATA", ("mod_event_socket.c", "parse_command", 2029)
        )
        headers += channel.profile.headers("Channel")
        headers += channel.data_headers(True)
        return headers

    def _on_socket_app(self, channel: Channel, data: str) -> None:
        words = data.split()
        address = words[0] if words else ""
        host, _, port = address.rpartition(":")
        flags = {word.lower() for word in words[1:]}
        task = self.loop.create_task(
            self._dial_out(
                channel,
                host or address,
                int(port) if port.isdigit() else 8084,
                "async" in flags,
                "full" in flags,
            )
        )
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _dial_out(
        self, channel: Channel, host: str, port: int, async_mode: bool, full: bool
    ) -> None:
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as error:
            log.warning("outbound socket %s:%s unreachable: %s", host, port, error)
            self.driver.sync()
            self.world.hangup(channel, "DESTINATION_OUT_OF_ORDER")
            return
        connection = EslConnection(
            self, reader, writer, channel=channel, async_mode=async_mode, full=full
        )
        await connection.serve()


async def serve_stats(report: Callable[[], dict[str, Any]], host: str, port: int) -> asyncio.Server:
    """A tiny HTTP server: `GET /stats` returns `report()` as JSON, `GET /health` 200."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        path = request.split(b" ", 2)[1].decode() if request.count(b" ") >= 2 else "/"
        route = path.split("?", 1)[0]
        if route == "/stats":
            status, body = "200 OK", json.dumps(report(), sort_keys=True).encode()
        elif route == "/health":
            status, body = "200 OK", b'{"status": "ok"}'
        else:
            status, body = "404 Not Found", b'{"error": "not-found"}'
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, host, port)
