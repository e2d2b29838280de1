"""The inbound client against a fake FreeSWITCH replaying the recorded traces byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from esl_replay import (
    TRACE_DIR,
    ReplayLog,
    ReplayServer,
    SentCommand,
    background_job_bodies,
    event_names_in,
    load_trace,
    reply_in_segment,
)

from switchboard_common.esl import (
    ApiResult,
    BackgroundJob,
    EslAuthError,
    EslClient,
    EslCommandError,
    Event,
    EventFormat,
    Frame,
    encode_command,
)

INBOUND_TRACES = [
    f"{flow}-{fmt}" for flow in ("basic", "a", "b", "c", "cc", "d") for fmt in ("plain", "json")
]


@dataclass
class Outcome:
    data: bytes
    commands: list[SentCommand]
    log: ReplayLog
    api: dict[int, ApiResult] = field(default_factory=dict)
    raw: dict[int, Frame] = field(default_factory=dict)
    jobs: dict[int, tuple[BackgroundJob, ApiResult]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


async def drive(name: str) -> Outcome:
    """Send the recorded commands through the client's public API, as a service would."""
    data, commands = load_trace(name)
    fmt: EventFormat = "json" if name.endswith("json") else "plain"
    async with ReplayServer(data, commands) as server:
        outcome = Outcome(data, commands, server.log)
        client = EslClient(
            "127.0.0.1",
            server.port,
            "ClueCon",
            events=["ALL"],
            event_format=fmt,
            reconnect=False,
            link_name=f"replay-{name}",
        )
        client.on("*", outcome.events.append)
        await client.connect()  # auth + `event <fmt> ALL`
        pending: dict[int, BackgroundJob] = {}
        for index, command in enumerate(commands[2:], start=2):
            line = command.line
            if line.startswith("api "):
                outcome.api[index] = await client.api(line.removeprefix("api "))
            elif line.startswith("bgapi "):
                pending[index] = await client.bgapi(
                    line.removeprefix("bgapi "), job_uuid=command.headers.get("Job-UUID")
                )
            elif line.startswith("nixevent "):
                await client.unsubscribe(*line.split()[1:])
            elif line == "exit":
                for job_index, job in pending.items():
                    outcome.jobs[job_index] = (job, await job.result(timeout=10))
                await client.wait_idle()
                await client.close()
            else:
                outcome.raw[index] = await client.request(
                    encode_command(line, command.headers or None)
                )
        await server.wait_done()
    return outcome


@pytest.mark.parametrize("name", INBOUND_TRACES)
async def test_replay_matches_the_recording(name: str) -> None:
    outcome = await drive(name)
    assert outcome.log.mismatches == []
    assert outcome.log.finished
    assert [got.split("\n")[0] for got in outcome.log.received] == [
        command.line for command in outcome.commands
    ]
    for index, result in outcome.api.items():
        kind, text = reply_in_segment(outcome.data, outcome.commands, index)
        assert kind == "api/response"
        assert result.text == text
        assert result.ok == (not text.startswith("-ERR"))
    for index, frame in outcome.raw.items():
        assert frame.reply_text == reply_in_segment(outcome.data, outcome.commands, index)[1]
    recorded_bodies = background_job_bodies(outcome.data)
    client_to_recorded = {client: recorded for recorded, client in outcome.log.job_uuids.items()}
    for job, result in outcome.jobs.values():
        recorded_uuid = client_to_recorded.get(job.job_uuid, job.job_uuid)
        assert result.text == recorded_bodies[recorded_uuid]
    assert [event.name for event in outcome.events] == event_names_in(outcome.data)


@pytest.mark.parametrize("fmt", ["plain", "json"])
async def test_basic_flow_values(fmt: str) -> None:
    outcome = await drive(f"basic-{fmt}")
    status, version = outcome.api[2], outcome.api[3]
    assert status.ok
    assert status.text.startswith("UP 0 years, 0 days, 0 hours, 0 minutes")
    assert "1000 session(s) max" in status.text
    assert version.value.startswith("FreeSWITCH Version 1.11.3-dev")
    assert [e.name for e in outcome.events] == ["API", "API", "HEARTBEAT", "RE_SCHEDULE"]
    assert outcome.events[0]["API-Command"] == "status"


@pytest.mark.parametrize("fmt", ["plain", "json"])
async def test_api_and_bgapi_answers_of_flow_d(fmt: str) -> None:
    outcome = await drive(f"d-{fmt}")
    by_command = {outcome.commands[i].line: result for i, result in outcome.api.items()}
    assert by_command["api global_getvar hostname"].value == "vm"
    assert by_command["api show channels"].text == "\n0 total.\n"
    missing = by_command["api uuid_kill 00000000-0000-0000-0000-000000000000"]
    assert not missing.ok
    assert missing.error == "-ERR No such channel!"
    assert by_command["api no_such_command foo"].error == "-ERR no_such_command Command not found!"

    jobs = {outcome.commands[i].line: (job, result) for i, (job, result) in outcome.jobs.items()}
    own_job, own_result = jobs["bgapi version"]
    assert own_job.job_uuid == "my-own-job-uuid-0001"
    assert own_result.value.startswith("FreeSWITCH Version 1.11.3-dev")
    status_job, status_result = jobs["bgapi status"]
    assert len(status_job.job_uuid) == 36  # ours, not FreeSWITCH's
    assert status_job.job_uuid in outcome.log.job_uuids.values()
    assert status_result.text.startswith("UP 0 years")
    assert jobs["bgapi no_such_command foo"][1].error == "-ERR no_such_command Command not found!"
    assert jobs["bgapi originate user/9999 &park()"][1].error == "-ERR SUBSCRIBER_ABSENT"

    raw = {outcome.commands[i].line: frame.reply_text for i, frame in outcome.raw.items()}
    assert raw["no_such_socket_command"] == "-ERR command not found"
    assert raw[f"event {fmt} NOT_AN_EVENT"] == "-ERR no keywords supplied"
    assert (
        raw["filter Event-Name CHANNEL_CREATE"] == "+OK filter added. [Event-Name]=[CHANNEL_CREATE]"
    )


def splice(name: str, keep: list[int]) -> tuple[bytes, list[SentCommand]]:
    """A shorter recording: the greeting plus the segments after the kept commands."""
    data, commands = load_trace(name)
    out = data[: commands[0].rx_offset]
    kept = []
    for index in keep:
        end = commands[index + 1].rx_offset if index + 1 < len(commands) else len(data)
        kept.append(SentCommand(len(out), commands[index].text))
        out += data[commands[index].rx_offset : end]
    return out, kept


async def test_api_ok_raises_freeswitch_text() -> None:
    # handshake, `nixevent`, `api uuid_kill <nil uuid>`, `api show channels as json`, exit
    data, script = splice("d-plain", [0, 1, 2, 8, 7, 21])
    async with ReplayServer(data, script) as server:
        client = EslClient(
            "127.0.0.1",
            server.port,
            "ClueCon",
            events=["ALL"],
            event_format="plain",
            reconnect=False,
        )
        await client.connect()
        await client.unsubscribe("HEARTBEAT", "RE_SCHEDULE")
        with pytest.raises(EslCommandError) as caught:
            await client.api_ok("uuid_kill 00000000-0000-0000-0000-000000000000")
        assert await client.api_ok("show channels as json") == '{"row_count": 0}'
        await client.close()
        await server.wait_done()
    assert server.log.mismatches == []
    assert server.log.finished
    assert caught.value.reply_text == "-ERR No such channel!"
    assert caught.value.error_id == "esl-command-failed"
    assert caught.value.details["command"].startswith("uuid_kill")


async def test_wrong_password_raises_freeswitch_text() -> None:
    data = (TRACE_DIR / "trace-authfail.txt").read_bytes()
    greeting_end = data.index(b"\n\n") + 2
    async with ReplayServer(data, [SentCommand(greeting_end, "auth wrong-password")]) as server:
        client = EslClient("127.0.0.1", server.port, "wrong-password", reconnect=False)
        with pytest.raises(EslAuthError) as caught:
            await client.connect()
        await server.wait_done()
    assert caught.value.reply_text == "-ERR invalid"
    assert "-ERR invalid" in caught.value.message
    assert not client.connected
    assert server.log.received == ["auth wrong-password"]
    await client.close()
