"""Simultaneous ring over ESL: `originate a,b,c` rings every agent, the first to answer
wins and the other legs end with LOSE_RACE, as switch_ivr_originate.c does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tracekit import Client, open_client

from switchboard_simulator.config import AgentEndpoint, CallerBehaviour, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig

DOMAIN = "acme.example"


def _agent(user: str, delay_s: float = 1.0, **extra: object) -> AgentEndpoint:
    return AgentEndpoint(
        user,
        DOMAIN,
        answer_delay_s=(delay_s, delay_s),
        handle_time_mean_s=1e9,
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    world = WorldConfig(
        seed=11,
        agents=[
            _agent("1001", 3.0),
            _agent("1002", 0.5),
            _agent("1003", 2.0),
            _agent("1004", registered=False),
            _agent("1005", outcome="busy"),
            _agent("1006", outcome="busy"),
            _agent("1007", outcome="no_answer"),
        ],
        callers=CallerBehaviour(patience_mean_s=0, dtmf_choices={}),
        default_domain=DOMAIN,
        heartbeat_interval_s=0,
    )
    simulator = Simulator(SimulatorConfig(world=world, esl_port=0, speed=20.0, start_traffic=False))
    await simulator.start()
    yield simulator
    await simulator.stop()


def _ring(*users: str) -> str:
    return ",".join(f"[sb_endpoint=user/{u}@{DOMAIN}]user/{u}@{DOMAIN}" for u in users)


async def _originate(client: Client, dial: str, timeout_s: int = 10) -> str:
    await client.send(
        f"bgapi originate {{originate_timeout={timeout_s},sb_tenant=acme}}{dial} &park()"
    )
    job = await client.wait_event("BACKGROUND_JOB", limit_s=15)
    return job.body or ""


def _leg_of(client: Client, user: str) -> str:
    created = client.matching("CHANNEL_CREATE", Channel_Name=f"sofia/internal/{user}@{DOMAIN}")
    assert len(created) == 1, user
    return created[0].get("Unique-ID") or ""


async def test_second_agent_answers_first_and_the_others_lose_the_race(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    body = await _originate(client, _ring("1001", "1002", "1004", "1003"))
    winner = _leg_of(client, "1002")
    assert body == f"+OK {winner}\n"
    assert await client.api(f"uuid_getvar {winner} sb_endpoint") == f"user/1002@{DOMAIN}"
    assert await client.api(f"uuid_getvar {winner} sb_tenant") == "acme"
    assert client.matching("CHANNEL_ANSWER", Unique_ID=winner)
    for loser in ("1001", "1003"):
        leg = _leg_of(client, loser)
        hangup = await client.wait_event("CHANNEL_HANGUP_COMPLETE", Unique_ID=leg)
        assert hangup.get("Hangup-Cause") == "LOSE_RACE"
        assert not client.matching("CHANNEL_ANSWER", Unique_ID=leg)
    # the unregistered agent in the list was skipped: no channel for it
    assert not client.matching("CHANNEL_CREATE", Channel_Name=f"sofia/internal/1004@{DOMAIN}")
    assert sim.world.channels[winner].answer_state == "answered"
    agents = sim.stats()["agents"]
    assert agents[f"1001@{DOMAIN}"]["failed"] == {"LOSE_RACE": 1}
    assert agents[f"1003@{DOMAIN}"]["failed"] == {"LOSE_RACE": 1}
    await client.close()


async def test_origination_uuid_names_the_first_leg_only(sim: Simulator) -> None:
    client = await open_client(sim.esl_port)
    leg = "a0000000-0000-4000-8000-0000000000b1"
    await client.send(
        f"bgapi originate {{origination_uuid={leg},originate_timeout=10}}"
        f"{_ring('1001', '1002')} &park()"
    )
    job = await client.wait_event("BACKGROUND_JOB", limit_s=15)
    assert _leg_of(client, "1001") == leg
    assert _leg_of(client, "1002") != leg
    assert job.body == f"+OK {_leg_of(client, '1002')}\n"
    await client.close()


@pytest.mark.parametrize(
    ("users", "cause"),
    [
        (("1005", "1006"), "USER_BUSY"),
        (("1005", "1004", "1006"), "USER_BUSY"),
        (("1005", "1007"), "NO_ANSWER"),
        (("1004", "1007"), "NO_ANSWER"),
        # every leg unreachable: the reason of the last one, as FreeSWITCH keeps it
        (("1004", "1099"), "SUBSCRIBER_ABSENT"),
        (("1099", "1004"), "USER_NOT_REGISTERED"),
    ],
)
async def test_nobody_answering_fails_with_the_cause_of_the_reached_legs(
    sim: Simulator, users: tuple[str, ...], cause: str
) -> None:
    client = await open_client(sim.esl_port)
    assert await _originate(client, _ring(*users), timeout_s=3) == f"-ERR {cause}\n"
    await client.close()
