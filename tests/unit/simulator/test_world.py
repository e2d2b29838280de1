"""The pure world model: determinism, callers' patience, agent outcomes, encoder."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

from switchboard_simulator.config import AgentEndpoint, CallerBehaviour, TenantNumber, WorldConfig
from switchboard_simulator.wire import Event, event_frame, serialize_json, url_encode
from switchboard_simulator.world import World

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch"


def _world(seed: int = 1, **overrides: object) -> tuple[World, list[Event]]:
    config = WorldConfig(
        seed=seed,
        numbers=[TenantNumber("5000", "acme", calls_per_minute=6.0)],
        agents=[AgentEndpoint("1001", "acme.example", handle_time_mean_s=30)],
        callers=CallerBehaviour(patience_mean_s=20, dtmf_choices={}),
        heartbeat_interval_s=0,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    world = World(config, start_us=1_800_000_000_000_000)
    events: list[Event] = []
    world.add_sink(events.append)
    return world, events


def test_url_encode_reproduces_every_plain_trace_value() -> None:
    checked = 0
    for path in FIXTURES.glob("trace-*-plain.txt"):
        for line in path.read_text(errors="replace").split("\n"):
            match = re.match(r"^([A-Za-z_][\w-]*): (.*)$", line)
            if match is None or match.group(1) in ("Reply-Text", "Content-Type"):
                continue
            value = match.group(2)
            if "%" not in value:
                continue
            assert url_encode(unquote(value)) == value
            checked += 1
    assert checked > 1000


def test_url_encode_rules() -> None:
    assert url_encode("a b") == "a%20b"
    assert url_encode("user/9999 &park()") == "user/9999%20%26park()"
    assert url_encode("+OK\n") == "%2BOK%0A"
    assert url_encode("~!*$',()") == "~!*$',()"


def test_json_keeps_duplicate_headers_and_body() -> None:
    event = Event("X", [("Hangup-Cause", "A"), ("Hangup-Cause", "A")], body="hi\n")
    assert serialize_json(event) == (
        '{"Hangup-Cause":"A","Hangup-Cause":"A","Content-Length":"3","_body":"hi\\n"}'
    )
    frame = event_frame(event, "plain")
    assert frame.startswith(b"Content-Length: ")
    assert frame.endswith(b"Content-Length: 3\n\nhi\n")


def test_same_seed_same_history() -> None:
    first, first_events = _world(seed=42, deterministic_ids=True)
    second, second_events = _world(seed=42, deterministic_ids=True)
    for world in (first, second):
        world.start_traffic(600)
        world.scheduler.run_until(world.now_us + 900_000_000)
    assert [e.headers for e in first_events] == [e.headers for e in second_events]
    assert first.truth.report() == second.truth.report()
    third, third_events = _world(seed=43)
    third.start_traffic(600)
    third.scheduler.run_until(third.now_us + 900_000_000)
    assert [e.headers for e in third_events] != [e.headers for e in first_events]


def test_same_seed_same_behaviour_but_never_the_same_call_ids() -> None:
    first, _ = _world(seed=42)
    second, _ = _world(seed=42)
    for world in (first, second):
        world.start_traffic(600)
        world.scheduler.run_until(world.now_us + 900_000_000)
    assert first.truth.report() == second.truth.report()
    first_ids = {first.new_uuid() for _ in range(5)}
    assert first_ids.isdisjoint({second.new_uuid() for _ in range(5)})


def test_unbridged_callers_abandon_after_their_patience() -> None:
    world, _events = _world()
    world.start_traffic(600)
    world.scheduler.run_until(world.now_us + 3_600_000_000)
    report = world.truth.report()["tenants"]["acme"]
    assert report["placed"] > 30
    assert report["abandoned"] == report["placed"]
    assert report["ended"] == report["placed"]
    assert report["parked"] == report["placed"]
    assert not world.channels


def test_unknown_number_is_rejected_with_unallocated_number() -> None:
    world, events = _world()
    uuid = world.place_call("9999")
    hangup = next(e for e in events if e.name == "CHANNEL_HANGUP")
    assert hangup.get("Unique-ID") == uuid
    assert hangup.get("Hangup-Cause") == "UNALLOCATED_NUMBER"
    assert [e.name for e in events if e.get("Unique-ID") == uuid][-2:] == [
        "CHANNEL_DESTROY",
        "CHANNEL_STATE",
    ]


def test_tenant_number_sets_variables_and_parks() -> None:
    world, events = _world()
    uuid = world.place_call("5000", "+15550001")
    park = next(e for e in events if e.name == "CHANNEL_PARK")
    assert park.get("variable_sb_tenant") == "acme"
    assert park.get("variable_sb_number") == "5000"
    assert park.get("Unique-ID") == uuid


def _originate(world: World, dial: str) -> list[str]:
    replies: list[str] = []
    world.execute_api("originate", f"{dial} &park()", replies.append)
    world.scheduler.run_until(world.now_us + 120_000_000)
    return replies


def test_agent_outcomes() -> None:
    world, _ = _world()
    assert _originate(world, "user/1001@acme.example")[0].startswith("+OK ")
    assert _originate(world, "user/4040@acme.example") == ["-ERR SUBSCRIBER_ABSENT\n"]
    world.set_agent(AgentEndpoint("1002", "acme.example", registered=False))
    assert _originate(world, "user/1002@acme.example") == ["-ERR USER_NOT_REGISTERED\n"]
    world.set_agent(AgentEndpoint("1003", "acme.example", outcome="busy"))
    assert _originate(world, "user/1003@acme.example") == ["-ERR USER_BUSY\n"]
    world.set_agent(AgentEndpoint("1004", "acme.example", outcome="no_answer"))
    assert _originate(world, "{originate_timeout=5}user/1004@acme.example") == ["-ERR NO_ANSWER\n"]
    agents = world.truth.report()["agents"]
    assert agents["1003@acme.example"]["failed"] == {"USER_BUSY": 1}
    assert agents["1004@acme.example"]["failed"] == {"NO_ANSWER": 1}


def test_bridged_caller_counts_as_bridged_to_agent_and_agent_hangs_up() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    caller = world.place_call("5000")
    replies = _originate(world, "user/1001@acme.example")
    agent_leg = replies[0].split()[1]
    world.execute_api("uuid_bridge", f"{caller} {agent_leg}", replies.append)
    world.scheduler.run_until(world.now_us + 3_600_000_000)
    report = world.truth.report()["tenants"]["acme"]
    assert report["bridged_to_agent"] == 1
    assert report["abandoned"] == 0
    assert [e.get("Unique-ID") for e in events if e.name == "CHANNEL_BRIDGE"] == [caller]
    assert not world.channels


def test_play_and_get_digits_stores_the_scripted_digits() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_script="42#"))
    uuid = world.place_call("5000")
    world.sendmsg(
        uuid,
        {
            "call-command": "execute",
            "execute-app-name": "play_and_get_digits",
            "execute-app-arg": "1 4 1 5000 # ivr/menu.wav silence.wav choice \\d+",
        },
    )
    world.scheduler.run_until(world.now_us + 30_000_000)
    digits = [e.get("DTMF-Digit") for e in events if e.name == "DTMF"]
    assert digits == ["4", "2", "#"]
    done = next(
        e
        for e in events
        if e.name == "CHANNEL_EXECUTE_COMPLETE" and e.get("Application") == "play_and_get_digits"
    )
    assert done.get("variable_choice") == "42"


def test_hold_and_record_events() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    uuid = world.place_call("5000")
    replies: list[str] = []
    world.execute_api("uuid_hold", uuid, replies.append)
    world.execute_api("uuid_hold", f"off {uuid}", replies.append)
    world.execute_api("uuid_record", f"{uuid} start /tmp/a.wav", replies.append)
    world.execute_api("uuid_record", f"{uuid} stop /tmp/a.wav", replies.append)
    world.execute_api("uuid_kill", "nope", replies.append)
    names = [
        e.name
        for e in events
        if e.name in ("CHANNEL_HOLD", "CHANNEL_UNHOLD", "RECORD_START", "RECORD_STOP")
    ]
    assert names == ["CHANNEL_HOLD", "CHANNEL_UNHOLD", "RECORD_START", "RECORD_STOP"]
    assert replies[-1] == "-ERR No such channel!\n"


def _parked(world: World, number: str = "5000") -> str:
    uuid = world.place_call(number)
    world.scheduler.run_until(world.now_us + 1000)
    assert world.channels[uuid].parked
    return uuid


def test_message_run_while_parked_keeps_the_park() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    uuid = _parked(world)
    replies: list[str] = []
    world.execute_api("uuid_broadcast", f"{uuid} /tmp/hello.wav aleg", replies.append)
    world.scheduler.run_until(world.now_us + 5_000_000)
    assert replies == ["+OK Message queued\n"]
    mine = [e.name for e in events if e.get("Unique-ID") == uuid]
    tail = mine[mine.index("CHANNEL_PARK") + 1 :]
    assert tail == [
        "CHANNEL_EXECUTE",
        "PLAYBACK_START",
        "PLAYBACK_STOP",
        "CHANNEL_EXECUTE_COMPLETE",
    ]
    assert world.channels[uuid].parked
    world.hangup(world.channels[uuid])
    names = [e.name for e in events if e.get("Unique-ID") == uuid]
    assert names[names.index("CHANNEL_HANGUP") + 1 : names.index("CHANNEL_HANGUP") + 3] == [
        "CHANNEL_UNPARK",
        "CHANNEL_EXECUTE_COMPLETE",
    ]


def test_uuid_bridge_swaps_profiles_like_freeswitch() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    caller = _parked(world)
    replies = _originate(world, "{origination_caller_id_number=5000}user/1001@acme.example")
    agent = replies[0].split()[1]
    world.execute_api("uuid_bridge", f"{caller} {agent}", replies.append)
    world.scheduler.run_until(world.now_us + 1000)
    a, b = world.channels[caller], world.channels[agent]
    assert a.profile.profile_index == b.profile.profile_index == 2
    assert a.profile.transfer_source.endswith(f":uuid_br:{agent}")
    assert b.profile.transfer_source.endswith(f":uuid_br:{caller}")
    assert (a.other_type, b.other_type) == ("originatee", "originator")
    assert b.other_profile is not None and b.other_profile.created_us == 0
    assert a.other_profile is not None and a.other_profile.created_us == b.profile.created_us
    assert a.other_profile.logical_direction == "inbound"
    assert b.profile.caller_id_number == a.profile.caller_id_number
    assert a.profile.callee_id_number == "5000"
    bridge = next(e for e in events if e.name == "CHANNEL_BRIDGE")
    assert bridge.get("Other-Leg-Unique-ID") == agent
    assert bridge.get("Other-Leg-Caller-ID-Name") == "Outbound Call"


def test_survivor_with_hangup_after_bridge_false_waits_parked() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    caller = _parked(world)
    agent = _originate(world, "user/1001@acme.example")[0].split()[1]
    replies: list[str] = []
    world.execute_api("uuid_bridge", f"{caller} {agent}", replies.append)
    world.scheduler.run_until(world.now_us + 1000)
    world.execute_api("uuid_setvar", f"{agent} hangup_after_bridge false", replies.append)
    world.execute_api("uuid_transfer", f"{caller} conference:r1@default inline", replies.append)
    world.scheduler.run_until(world.now_us + 1000)
    assert world.channels[agent].parked
    assert not [e for e in events if e.name == "CHANNEL_HANGUP"]
    world.execute_api("uuid_transfer", f"{agent} conference:r1@default inline", replies.append)
    world.scheduler.run_until(world.now_us + 1000)
    actions = [e.get("Action") for e in events if e.subclass == "conference::maintenance"]
    assert actions == ["conference-create", "add-member", "add-member"]
    world.execute_api("conference", "r1 list", replies.append)
    assert len(replies[-1].splitlines()) == 2


def test_async_socket_waits_for_connect_then_parks() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    world.add_number(TenantNumber("7000", "acme", actions=[("socket", "127.0.0.1:1 async full")]))
    dialled: list[str] = []
    world.socket_hook = lambda channel, data: dialled.append(data)
    uuid = world.place_call("7000")
    world.sendmsg(uuid, {"call-command": "execute", "execute-app-name": "answer"})
    world.scheduler.run_until(world.now_us + 10_000_000)
    assert dialled == ["127.0.0.1:1 async full"]
    assert not world.channels[uuid].parked
    assert not [e for e in events if e.name == "CHANNEL_ANSWER"], "messages wait for the park"
    world.socket_connected(world.channels[uuid])
    world.scheduler.run_until(world.now_us + 10_000)
    assert not world.channels[uuid].parked, "the socket app polls for the connect"
    world.scheduler.run_until(world.now_us + 20_000)
    assert world.channels[uuid].parked
    names = [e.name for e in events if e.get("Unique-ID") == uuid]
    assert names.index("CHANNEL_PARK") < names.index("CHANNEL_ANSWER")


def test_causes_and_quoted_originate_variables() -> None:
    from switchboard_simulator.world import _split_originate, cause_from_text

    assert cause_from_text("USER_BUSY") == "USER_BUSY"
    assert cause_from_text("17") == "USER_BUSY"
    assert cause_from_text("606") == "USER_NOT_REGISTERED"
    assert cause_from_text("nonsense") == "NORMAL_CLEARING"
    assert _split_originate("{a='b c',d=e}user/1001@x &park()") == (
        "{a='b c',d=e}user/1001@x",
        "&park()",
    )
    world, _ = _world()
    replies = _originate(world, "{origination_caller_id_name='Jane Doe'}user/1001@acme.example")
    agent = world.channels[replies[0].split()[1]]
    assert agent.get_var("origination_caller_id_name") == "Jane Doe"


def test_uuid_audio_mutes_and_unmutes_what_a_leg_sends() -> None:
    world, _events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    uuid = world.place_call("5000")
    replies: list[str] = []
    world.execute_api("uuid_audio", f"{uuid} start read mute 1", replies.append)
    muted = world.channels[uuid].read_muted
    world.execute_api("uuid_audio", f"{uuid} stop", replies.append)
    world.execute_api("uuid_audio", f"{uuid} start sideways", replies.append)
    world.execute_api("uuid_audio", "nope stop", replies.append)
    assert muted is True
    assert world.channels[uuid].read_muted is False
    assert replies[:2] == ["+OK\n", "+OK\n"]
    assert replies[2].startswith("-USAGE")
    assert replies[3] == "-ERR No such channel!\n"


def test_a_caller_recorded_alone_leaves_a_message_and_hangs_up() -> None:
    callers = CallerBehaviour(patience_mean_s=0, dtmf_choices={}, message_mean_s=4.0)
    world, events = _world(callers=callers)
    uuid = world.place_call("5000")
    world.scheduler.run_until(world.now_us + 1_000_000)
    world.start_record(world.channels[uuid], "/tmp/vm.wav")
    world.scheduler.run_until(world.now_us + 60_000_000)
    hangups = [e for e in events if e.name == "CHANNEL_HANGUP" and e.get("Unique-ID") == uuid]
    assert len(hangups) == 1
    stop = next(e for e in events if e.name == "RECORD_STOP")
    assert stop.get("Record-File-Path") == "/tmp/vm.wav"


def _room_of_three(world: World, caller_flags: str) -> tuple[str, str, str]:
    caller = _parked(world)
    first = _originate(world, "user/1001@acme.example")[0].split()[1]
    second = _originate(world, "user/1001@acme.example")[0].split()[1]
    replies: list[str] = []
    for leg, flags in ((caller, caller_flags), (first, "mintwo"), (second, "mintwo")):
        target = f"conference:r9@default+flags{{{flags}}}"
        world.execute_api("uuid_transfer", f"{leg} {target} inline", replies.append)
    world.scheduler.run_until(world.now_us + 1000)
    assert replies == ["+OK\n"] * 3
    return caller, first, second


def test_conference_ends_when_its_endconf_member_leaves() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    caller, first, second = _room_of_three(world, "endconf|mintwo")
    world.hangup(world.channels[caller])
    world.scheduler.run_until(world.now_us + 100_000)
    hangups = {
        e.get("Unique-ID"): e.get("Hangup-Cause") for e in events if e.name == "CHANNEL_HANGUP"
    }
    assert hangups == {
        caller: "NORMAL_CLEARING",
        first: "NORMAL_CLEARING",
        second: "NORMAL_CLEARING",
    }
    actions = [e.get("Action") for e in events if e.subclass == "conference::maintenance"]
    assert actions[-4:] == ["del-member", "del-member", "del-member", "conference-destroy"]


def test_conference_with_mintwo_ends_when_one_member_is_left() -> None:
    world, events = _world(callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}))
    caller, first, second = _room_of_three(world, "mintwo")
    world.hangup(world.channels[first])
    world.scheduler.run_until(world.now_us + 100_000)
    assert not world.channels[caller].hung_up and not world.channels[second].hung_up
    world.hangup(world.channels[second])
    world.scheduler.run_until(world.now_us + 100_000)
    hangup = [e for e in events if e.name == "CHANNEL_HANGUP" and e.get("Unique-ID") == caller]
    assert [e.get("Hangup-Cause") for e in hangup] == ["NORMAL_CLEARING"]
