"""The world model's simultaneous originate (`a,b,c`), without sockets."""

from __future__ import annotations

from switchboard_simulator.config import AgentEndpoint, CallerBehaviour, WorldConfig
from switchboard_simulator.wire import Event
from switchboard_simulator.world import World

DOMAIN = "acme.example"


def _world() -> tuple[World, list[Event]]:
    config = WorldConfig(
        seed=3,
        agents=[
            AgentEndpoint("1001", DOMAIN, answer_delay_s=(4.0, 4.0), handle_time_mean_s=1e9),
            AgentEndpoint("1002", DOMAIN, answer_delay_s=(1.0, 1.0), handle_time_mean_s=1e9),
            AgentEndpoint("1003", DOMAIN, answer_delay_s=(2.0, 2.0), handle_time_mean_s=1e9),
        ],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        default_domain=DOMAIN,
        heartbeat_interval_s=0,
    )
    world = World(config, start_us=1_800_000_000_000_000)
    events: list[Event] = []
    world.add_sink(events.append)
    return world, events


def _leg(events: list[Event], user: str) -> str:
    created = [
        e
        for e in events
        if e.name == "CHANNEL_CREATE" and e.get("Channel-Name") == f"sofia/internal/{user}@{DOMAIN}"
    ]
    assert len(created) == 1
    return created[0].get("Unique-ID") or ""


def _names(events: list[Event], uuid: str) -> list[str]:
    return [e.name for e in events if e.get("Unique-ID") == uuid]


def test_losers_hang_up_with_lose_race_once_the_winner_answers() -> None:
    world, events = _world()
    replies: list[str] = []
    dial = ",".join(f"user/{u}@{DOMAIN}" for u in ("1001", "1002", "1003"))
    world.execute_api("originate", f"{{originate_timeout=10}}{dial} &park()", replies.append)
    world.scheduler.run_until(world.now_us + 1_500_000)
    winner = _leg(events, "1002")
    assert replies == [f"+OK {winner}\n"]
    for user in ("1001", "1003"):
        loser = _leg(events, user)
        names = _names(events, loser)
        assert "CHANNEL_ANSWER" not in names
        ending = [
            n
            for n in names
            if n in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY")
        ]
        assert ending == ["CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"]
        hangup = next(
            e for e in events if e.name == "CHANNEL_HANGUP" and e.get("Unique-ID") == loser
        )
        assert hangup.get("Hangup-Cause") == "LOSE_RACE"
        assert loser not in world.channels
    assert world.channels[winner].parked
    # nothing else happens later: the losers' ring timers were cancelled
    before = len(events)
    world.scheduler.run_until(world.now_us + 10_000_000)
    assert not any(e.name == "CHANNEL_ANSWER" for e in events[before:])


def test_a_leg_killed_while_ringing_leaves_the_race_to_the_others() -> None:
    world, events = _world()
    replies: list[str] = []
    dial = f"user/1002@{DOMAIN},user/1003@{DOMAIN}"
    world.execute_api("originate", f"{{originate_timeout=10}}{dial} &park()", replies.append)
    first = _leg(events, "1002")
    world.execute_api("uuid_kill", f"{first} USER_BUSY", lambda _reply: None)
    world.scheduler.run_until(world.now_us + 3_000_000)
    assert replies == [f"+OK {_leg(events, '1003')}\n"]


def test_every_leg_refusing_fails_the_originate_once() -> None:
    world, events = _world()
    replies: list[str] = []
    dial = f"user/1002@{DOMAIN},user/1003@{DOMAIN}"
    world.execute_api("originate", f"{{originate_timeout=10}}{dial} &park()", replies.append)
    for user in ("1002", "1003"):
        world.execute_api("uuid_kill", f"{_leg(events, user)} USER_BUSY", lambda _reply: None)
    world.scheduler.run_until(world.now_us + 12_000_000)
    assert replies == ["-ERR USER_BUSY\n"]
