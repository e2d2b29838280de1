"""What the platform's switch service asks of FreeSWITCH, through a real ESL connection:
conference, eavesdrop/whisper/barge, call controls, play-and-collect, failing originates,
`show channels|calls as json`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from tracekit import Client, open_client

from switchboard_simulator.config import AgentEndpoint, CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

NUMBER = "+15550100"
TONE = "tone_stream://%(200,0,440)"
CHANNEL_COLUMNS = [
    "uuid",
    "direction",
    "created",
    "created_epoch",
    "name",
    "state",
    "cid_name",
    "cid_num",
    "ip_addr",
    "dest",
    "application",
    "application_data",
    "dialplan",
    "context",
    "read_codec",
    "read_rate",
    "read_bit_rate",
    "write_codec",
    "write_rate",
    "write_bit_rate",
    "secure",
    "hostname",
    "presence_id",
    "presence_data",
    "accountcode",
    "callstate",
    "callee_name",
    "callee_num",
    "callee_direction",
    "call_uuid",
    "sent_callee_name",
    "sent_callee_num",
    "initial_cid_name",
    "initial_cid_num",
    "initial_ip_addr",
    "initial_dest",
    "initial_dialplan",
    "initial_context",
]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    world = WorldConfig(
        seed=5,
        numbers=[TenantNumber(NUMBER, "acme")],
        agents=[
            AgentEndpoint(
                "1001", "acme.example", answer_delay_s=(0.5, 0.5), handle_time_mean_s=1e9
            ),
            AgentEndpoint("1002", "acme.example", outcome="no_answer"),
            AgentEndpoint(
                "2001", "acme.example", answer_delay_s=(0.5, 0.5), handle_time_mean_s=1e9
            ),
            AgentEndpoint(
                "2002", "acme.example", answer_delay_s=(0.5, 0.5), handle_time_mean_s=1e9
            ),
        ],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        default_domain="acme.example",
        heartbeat_interval_s=0,
        playback_seconds=0.5,
    )
    simulator = Simulator(SimulatorConfig(world=world, esl_port=0, speed=20.0, start_traffic=False))
    await simulator.start()
    yield simulator
    await simulator.stop()


async def _parked_caller(sim: Simulator, client: Client, caller_id: str = "+15557000001") -> str:
    uuid = sim.place_call(NUMBER, caller_id)
    await client.wait_event("CHANNEL_PARK", Unique_ID=uuid)
    return uuid


async def _originate(client: Client, leg: str, endpoint: str, app: str = "&park()") -> str:
    await client.send(
        f"bgapi originate {{origination_uuid={leg},originate_timeout=10,sb_tenant=acme}}"
        f"{endpoint} {app}"
    )
    await client.wait(
        lambda: any(
            e.name == "BACKGROUND_JOB" and leg in (e.get("Job-Command-Arg") or "")
            for e in client.events
        )
    )
    done = next(
        e
        for e in client.events
        if e.name == "BACKGROUND_JOB" and leg in (e.get("Job-Command-Arg") or "")
    )
    return done.body or ""


async def _bridged_call(sim: Simulator, client: Client) -> tuple[str, str]:
    caller = await _parked_caller(sim, client)
    agent = "a0000000-0000-4000-8000-000000000001"
    assert await _originate(client, agent, "user/1001@acme.example") == f"+OK {agent}\n"
    assert (await client.api(f"uuid_bridge {caller} {agent}")) == f"+OK {agent}\n"
    await client.wait_event("CHANNEL_BRIDGE", Unique_ID=caller)
    return caller, agent


async def test_conference_through_uuid_transfer_inline(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    caller, agent = await _bridged_call(sim, client)
    for leg in (caller, agent):
        assert await client.api(f"uuid_setvar {leg} hangup_after_bridge false") == "+OK\n"
    for leg in (caller, agent):
        assert await client.api(f"uuid_transfer {leg} conference:room-7@default inline") == "+OK\n"
    await client.wait(lambda: len(client.matching("CUSTOM", Action="add-member")) == 2)
    maintenance = [e for e in client.events if e.get("Event-Subclass") == "conference::maintenance"]
    assert [e.get("Action") for e in maintenance] == [
        "conference-create",
        "add-member",
        "add-member",
    ]
    create, first, second = maintenance
    for event in maintenance:
        assert event.headers[0] == ("Event-Subclass", "conference::maintenance")
        assert event.get("Conference-Name") == "room-7"
        assert event.get("Conference-Profile-Name") == "default"
        assert event.get("Conference-Unique-ID") == create.get("Conference-Unique-ID")
        assert event.get("Conference-Domain")
    assert create.get("Unique-ID") is None and create.get("Conference-Size") == "0"
    assert {first.get("Unique-ID"), second.get("Unique-ID")} == {caller, agent}
    assert [first.get("Conference-Size"), second.get("Conference-Size")] == ["1", "2"]
    ids = {first.get("Member-ID"), second.get("Member-ID")}
    assert len(ids) == 2 and all(i and i.isdigit() for i in ids)
    for key in ("Hear", "Speak", "Talking", "Member-Type", "Caller-Caller-ID-Number"):
        assert first.get(key) is not None, key
    assert await client.api(f"uuid_exists {caller}") == "true"
    assert await client.api(f"uuid_getvar {caller} conference_member_id") == first.get("Member-ID")
    listing = await client.api("conference room-7 list")
    assert sorted(line.split(";")[2] for line in listing.splitlines()) == sorted([caller, agent])
    hangups = [e for e in client.events if e.name == "CHANNEL_HANGUP"]
    assert hangups == [], "hangup_after_bridge=false keeps the second leg up for its transfer"

    assert sim.hangup(caller)
    left = await client.wait_event("CUSTOM", Action="del-member", Unique_ID=caller)
    assert left.get("Conference-Size") == "1"
    agent_member = next(e.get("Member-ID") for e in (first, second) if e.get("Unique-ID") == agent)
    assert (
        await client.api(f"conference room-7 kick {agent_member}") == f"+OK kicked {agent_member}\n"
    )
    await client.wait_event("CUSTOM", Action="conference-destroy")
    complete = await client.wait_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=agent)
    assert complete.get("Hangup-Cause") == "NORMAL_CLEARING"
    assert (await client.api("conference room-7 list")) == "Conference room-7 not found\n"
    await client.close()


async def test_eavesdrop_whisper_and_three_way(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    caller, _agent = await _bridged_call(sim, client)
    listener = "50000000-0000-4000-8000-000000000001"
    await client.send(
        f"bgapi originate {{origination_uuid={listener},eavesdrop_whisper_aleg=true,"
        f"sb_supervising={caller}}}user/2001@acme.example &eavesdrop({caller})"
    )
    await client.wait_event("MEDIA_BUG_START", Unique_ID=caller)
    job = client.matching("BACKGROUND_JOB")[-1]
    assert job.body == f"+OK {listener}\n"
    assert client.matching("CHANNEL_ANSWER", Unique_ID=listener)
    execute = client.matching("CHANNEL_EXECUTE", Unique_ID=listener, Application="eavesdrop")
    assert execute and execute[0].get("Application-Data") == caller
    bug = client.matching("MEDIA_BUG_START", Unique_ID=caller)[0]
    assert bug.get("Media-Bug-Function") == "eavesdrop"
    assert await client.api(f"uuid_getvar {listener} eavesdrop_whisper_aleg") == "true"
    assert await client.api(f"uuid_getvar {listener} eavesdrop_mode") == "whisper"

    barge = "50000000-0000-4000-8000-000000000002"
    await client.send(
        f"bgapi originate {{origination_uuid={barge}}}user/2002@acme.example &three_way({caller})"
    )
    await client.wait(lambda: len(client.matching("MEDIA_BUG_START", Unique_ID=caller)) == 2)
    assert await client.api(f"uuid_getvar {barge} eavesdrop_mode") == "barge"

    assert sim.hangup(caller)
    for supervisor in (listener, barge):
        done = await client.wait_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=supervisor)
        assert done.get("Hangup-Cause") == "NORMAL_CLEARING"
        assert client.matching("CHANNEL_EXECUTE_COMPLETE", Unique_ID=supervisor)
    assert len(client.matching("MEDIA_BUG_STOP", Unique_ID=caller)) == 2
    await client.close()


async def test_call_controls(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    caller, agent = await _bridged_call(sim, client)

    assert await client.api(f"uuid_getvar {caller} sb_tenant") == "acme"
    assert await client.api(f"uuid_getvar {caller} no_such_var") == "_undef_"
    assert await client.api(f"uuid_setvar {caller} sb_note hello world") == "+OK\n"
    assert await client.api(f"uuid_getvar {caller} sb_note") == "hello world"
    assert await client.api(f"uuid_setvar {caller} sb_note") == "+OK\n"
    assert await client.api(f"uuid_getvar {caller} sb_note") == "_undef_"

    assert await client.api(f"uuid_hold {caller}") == "+OK Success\n"
    hold = await client.wait_event("CHANNEL_HOLD", Unique_ID=caller)
    assert hold.get("Channel-Call-State") == "HELD"
    assert await client.api(f"uuid_hold off {caller}") == "+OK Success\n"
    unhold = await client.wait_event("CHANNEL_UNHOLD", Unique_ID=caller)
    assert unhold.get("Channel-Call-State") == "ACTIVE"

    path = "/srv/recordings/acme/call.wav"
    assert await client.api(f"uuid_record {caller} start {path}") == "+OK Success\n"
    start = await client.wait_event("RECORD_START", Unique_ID=caller)
    assert start.get("Record-File-Path") == path
    assert await client.api(f"uuid_record {caller} mask {path}") == "+OK Success\n"
    assert await client.api(f"uuid_getvar {caller} record_masked") == "true"
    assert await client.api(f"uuid_record {caller} unmask {path}") == "+OK Success\n"
    assert await client.api(f"uuid_getvar {caller} record_masked") == "false"
    assert await client.api(f"uuid_record {caller} stop {path}") == "+OK Success\n"
    stop = await client.wait_event("RECORD_STOP", Unique_ID=caller)
    assert stop.get("Record-File-Path") == path
    assert (await client.api(f"uuid_record {caller} stop {path}")).startswith("-ERR")

    dtmf_before = len(client.matching("DTMF"))
    assert await client.api(f"uuid_send_dtmf {agent} 12#") == "+OK Success\n"
    assert await client.api(f"uuid_send_dtmf {agent} 1") == "+OK Success\n"
    assert len(client.matching("DTMF")) == dtmf_before, "sent digits go out, no DTMF event"

    assert await client.api(f"uuid_broadcast {caller} {TONE} aleg") == "+OK Message queued\n"
    played = await client.wait_event(
        "CHANNEL_EXECUTE_COMPLETE", Unique_ID=caller, Application="playback"
    )
    assert played.get("Application-Response") == "FILE PLAYED"
    assert not client.matching("CHANNEL_UNBRIDGE"), "a broadcast does not break the bridge"
    assert not client.matching("CHANNEL_EXECUTE", Unique_ID=agent, Application="playback")

    assert await client.api(f"uuid_kill {agent} USER_BUSY") == "+OK\n"
    hangup = await client.wait_event("CHANNEL_HANGUP", Unique_ID=agent)
    assert hangup.get("Hangup-Cause") == "USER_BUSY"
    complete = await client.wait_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=agent)
    assert complete.get("variable_hangup_cause_q850") == "17"
    other = await _parked_caller(sim, client, "+15557000002")
    assert await client.api(f"uuid_kill {other} 21") == "+OK\n"
    rejected = await client.wait_event("CHANNEL_HANGUP", Unique_ID=other)
    assert rejected.get("Hangup-Cause") == "CALL_REJECTED"
    assert await client.api(f"uuid_kill {other}") == "-ERR No such channel!\n"
    await client.close()


async def test_broadcast_to_a_parked_call_keeps_it_parked(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    caller = await _parked_caller(sim, client)
    assert await client.api(f"uuid_broadcast {caller} {TONE} aleg") == "+OK Message queued\n"
    await client.wait_event("CHANNEL_EXECUTE_COMPLETE", Unique_ID=caller, Application="playback")
    names = [e.name for e in client.events if e.uuid == caller]
    tail = names[names.index("CHANNEL_PARK") + 1 :]
    assert "PLAYBACK_START" in tail and "PLAYBACK_STOP" in tail
    assert "CHANNEL_UNPARK" not in tail and "CHANNEL_HANGUP" not in tail
    assert await client.api(f"uuid_exists {caller}") == "true"
    assert sim.world.channels[caller].parked
    await client.close()


async def test_sendmsg_playback_and_play_and_get_digits_report_their_event_uuid(
    sim: Simulator,
) -> None:
    client = await open_client(sim.esl_port)
    caller = await _parked_caller(sim, client)
    reply = await client.send(
        f"sendmsg {caller}\ncall-command: execute\nexecute-app-name: playback\n"
        f"execute-app-arg: {TONE}\nevent-uuid: play-0001"
    )
    assert reply.headers["Reply-Text"] == "+OK"
    done = await client.wait_event("CHANNEL_EXECUTE_COMPLETE", Application_UUID="play-0001")
    assert done.get("Application") == "playback"
    assert done.get("Application-Response") == "FILE PLAYED"

    argument = "1 4 1 5000 # ivr/menu.wav silence_stream://250 sb_digits \\d+ 3000"
    await client.send(
        f"sendmsg {caller}\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
        f"execute-app-arg: {argument}\nevent-uuid: digits-0001"
    )
    await client.wait_event("CHANNEL_EXECUTE", Application_UUID="digits-0001")
    assert (await client.api(f"uuid_recv_dtmf {caller} 42#")).startswith("+OK")
    collected = await client.wait_event("CHANNEL_EXECUTE_COMPLETE", Application_UUID="digits-0001")
    assert collected.get("Application") == "play_and_get_digits"
    assert collected.get("Application-Response") == "_none_"
    assert collected.get("variable_sb_digits") == "42"
    assert [e.get("DTMF-Digit") for e in client.matching("DTMF", Unique_ID=caller)] == [
        "4",
        "2",
        "#",
    ]

    await client.send(
        f"sendmsg {caller}\ncall-command: execute\nexecute-app-name: play_and_get_digits\n"
        f"execute-app-arg: 2 2 1 1000 # ivr/menu.wav silence_stream://250 sb_pin \\d+\n"
        "event-uuid: digits-0002"
    )
    timed_out = await client.wait_event("CHANNEL_EXECUTE_COMPLETE", Application_UUID="digits-0002")
    assert timed_out.get("variable_sb_pin") in (None, "")
    assert timed_out.get("variable_read_result") == "failure"
    assert sim.world.channels[caller].parked
    await client.close()


async def test_originate_to_an_agent_who_never_answers_fails_with_no_answer(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    leg = "a0000000-0000-4000-8000-0000000000aa"
    await client.send(
        f"bgapi originate {{origination_uuid={leg},originate_timeout=3}}user/1002@acme.example "
        "&park()"
    )
    job = await client.wait_event("BACKGROUND_JOB")
    assert job.body == "-ERR NO_ANSWER\n"
    created = client.matching("CHANNEL_CREATE", Unique_ID=leg)[0]
    hangup = client.matching("CHANNEL_HANGUP", Unique_ID=leg)[0]
    assert hangup.get("Hangup-Cause") == "NO_ANSWER"
    waited_us = int(hangup.get("Event-Date-Timestamp") or 0) - int(
        created.get("Event-Date-Timestamp") or 0
    )
    assert 3_000_000 <= waited_us < 3_100_000
    await client.wait_event("CHANNEL_DESTROY", Unique_ID=leg)
    names = [e.name for e in client.events]
    assert names.index("BACKGROUND_JOB") < max(
        i for i, e in enumerate(client.events) if e.name == "CHANNEL_DESTROY"
    )
    assert sim.stats()["agents"]["1002@acme.example"]["failed"] == {"NO_ANSWER": 1}
    await client.close()


async def test_show_channels_and_calls_with_live_channels(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    caller, agent = await _bridged_call(sim, client)
    lonely = await _parked_caller(sim, client, "+15557000009")
    channels = json.loads(await client.api("show channels as json"))
    assert channels["row_count"] == 3
    rows = {row["uuid"]: row for row in channels["rows"]}
    assert set(rows) == {caller, agent, lonely}
    for row in rows.values():
        assert list(row) == CHANNEL_COLUMNS
        assert all(isinstance(value, str) for value in row.values())
    assert rows[lonely]["direction"] == "inbound"
    assert rows[lonely]["cid_num"] == "+15557000009"
    assert rows[lonely]["dest"] == NUMBER
    assert rows[lonely]["application"] == "park"
    assert rows[lonely]["context"] == "public"
    assert rows[lonely]["read_codec"] == "", "not answered: no codec negotiated yet"
    assert rows[agent]["read_codec"] == "PCMU"
    assert rows[lonely]["callstate"] == "RINGING"
    assert rows[agent]["callstate"] == "ACTIVE"
    assert rows[lonely]["created_epoch"].isdigit()
    assert rows[agent]["direction"] == "outbound"
    assert rows[agent]["name"] == "sofia/internal/1001@acme.example"

    text = await client.api("show channels")
    lines = text.split("\n")
    assert lines[0] == ",".join(CHANNEL_COLUMNS)
    assert text.endswith("\n\n3 total.\n")

    calls = json.loads(await client.api("show calls as json"))
    assert calls["row_count"] == 2
    by_uuid = {row["uuid"]: row for row in calls["rows"]}
    assert by_uuid[caller]["b_uuid"] == agent
    assert by_uuid[caller]["b_name"] == "sofia/internal/1001@acme.example"
    assert by_uuid[caller]["call_created_epoch"].isdigit()
    assert by_uuid[lonely]["b_uuid"] == ""
    assert "application" not in by_uuid[caller]
    for key in ("callstate", "b_callstate", "b_cid_num", "call_uuid", "hostname"):
        assert key in by_uuid[caller]
    await client.close()
