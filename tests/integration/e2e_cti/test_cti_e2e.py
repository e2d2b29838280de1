"""The agent desktop's call controls end to end: cti (WebSocket desktop API) -> the switch
service's gRPC CallControl -> the FreeSWITCH simulator, with the switch's call events coming
back to cti over Kafka. Calls reach agents the way routing connects them (offer event, then
the switch's Bridge to the agent's `user/<extension>@<tenant SIP domain>`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from switchboard_common.events.calls import (
    CallBridged,
    CallEnded,
    CallHeld,
    CallRecordingStarted,
    CallRecordingStopped,
    CallResumed,
)
from tests.integration.cti.harness import Desktop
from tests.integration.e2e_cti.cti_stack import DESKTOP_LOST_GRACE_S, WAIT_S, CtiStack

pytestmark = pytest.mark.asyncio(loop_scope="session")

BRIDGED = CallBridged.EVENT_TYPE
ENDED = CallEnded.EVENT_TYPE


async def agent_pushes(desk: Desktop, since: int, count: int, **call: Any) -> None:
    """Until the desktop got `count` `agent` pushes whose call matches `call`, counting from
    message `since` on (a command's own push and the one for the switch's event about it
    may come in either order around the command's reply)."""

    def matching() -> int:
        return sum(
            1
            for m in desk.seen[since:]
            if m.get("type") == "agent"
            and m["agent"]["call"] is not None
            and all(m["agent"]["call"].get(k) == v for k, v in call.items())
        )

    async with asyncio.timeout(WAIT_S):
        while matching() < count:
            await desk.next("agent", WAIT_S)


async def test_hold_mute_and_recording_reach_freeswitch(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada"])
    async with stack.desk(tenant, "ada") as desk:
        call = await stack.deliver(tenant, desk, "ada")
        caller = stack.sim.world.channels[call.call_id]
        agent_leg = stack.sim.world.channels[call.agent_leg]

        held = await desk.send("hold")
        assert held["ok"], held
        assert held["result"]["agent"]["state"] == "on_hold"
        await stack.wait_event(call.call_id, CallHeld.EVENT_TYPE)
        assert caller.held and not agent_leg.held, "the customer waits on hold"
        resumed = await desk.send("unhold")
        assert resumed["ok"] and resumed["result"]["agent"]["state"] == "on_call", resumed
        await stack.wait_event(call.call_id, CallResumed.EVENT_TYPE)
        assert not caller.held

        muted = await desk.send("mute")
        assert muted["ok"] and muted["result"]["agent"]["call"]["muted"] is True, muted
        assert agent_leg.read_muted and not caller.read_muted, "the agent's microphone"
        unmuted = await desk.send("unmute")
        assert unmuted["ok"] and unmuted["result"]["agent"]["call"]["muted"] is False, unmuted
        assert not agent_leg.read_muted

        refused = await desk.send("record", action="start")
        assert refused["error"]["error"] == "recording-not-allowed", refused
        assert refused["error"]["details"]["recording_control"] == "pause_resume"
        assert not caller.recordings
        await stack.put_policy(tenant, {"recording_control": "full"})

        since = len(desk.seen)
        started = await desk.send("record", action="start")
        assert started["ok"], started
        assert started["result"]["agent"]["call"]["recording"] == "on"
        recording = (await stack.wait_event(call.call_id, CallRecordingStarted.EVENT_TYPE))[0]
        path = recording.payload_as(CallRecordingStarted).path
        assert tenant.tenant_id in path and call.call_id in path
        assert path in caller.recordings
        # cti hears the switch's recording_started as well (pushed to the desktop again)
        await agent_pushes(desk, since, 2, recording="on")

        paused = await desk.send("record", action="pause")
        assert paused["ok"] and paused["result"]["agent"]["call"]["recording"] == "paused"
        assert caller.get_var("record_masked") == "true"
        again = await desk.send("record", action="resume")
        assert again["ok"] and again["result"]["agent"]["call"]["recording"] == "on"
        assert caller.get_var("record_masked") == "false"
        since = len(desk.seen)
        stopped = await desk.send("record", action="stop")
        assert stopped["ok"] and stopped["result"]["agent"]["call"]["recording"] == "off"
        ended = (await stack.wait_event(call.call_id, CallRecordingStopped.EVENT_TYPE))[0]
        assert ended.payload_as(CallRecordingStopped).path == path
        assert path not in caller.recordings
        await agent_pushes(desk, since, 2, recording="off")
        assert stack.state(tenant, "ada") == "on_call"
        assert stack.alive(call.call_id) and stack.alive(call.agent_leg)
    stack.hang_up_everything(tenant)


async def test_blind_transfer_moves_the_caller_to_the_other_agent(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob") as bob:
        call = await stack.deliver(tenant, ada, "ada")

        moved = await ada.send("transfer", target_kind="agent", target="bob")
        assert moved["ok"], moved
        assert moved["result"]["transferred_to"] == {"kind": "agent", "target": "bob"}
        assert moved["result"]["agent"]["state"] == "wrap_up"
        assert moved["result"]["agent"]["wrapping_call_id"] == call.call_id

        pop = await bob.next("pop", WAIT_S, call_id=call.call_id)
        assert pop["transferred_from"] == "ada"
        assert (
            pop["caller"]["number"]
            == stack.sim.world.channels[call.call_id].profile.caller_id_number
        )

        bridged = await stack.wait_event(call.call_id, BRIDGED, count=2)
        new_leg = bridged[-1].payload_as(CallBridged).other_call_id
        assert new_leg not in (call.call_id, call.agent_leg)
        assert stack.endpoint_of(new_leg) == f"{tenant.extensions['bob']}@{tenant.domain}"
        assert stack.sim.world.channels[call.call_id].bridged_to == new_leg
        await stack.wait_event(call.agent_leg, ENDED)
        assert not stack.alive(call.agent_leg), "ada's phone was released"

        record = await stack.wait_state(tenant, "bob", "on_call")
        assert record.call is not None
        assert (record.call.call_id, record.call.agent_leg_id) == (call.call_id, new_leg)
        assert stack.state(tenant, "ada") == "wrap_up"

        hung_up = await bob.send("hangup")
        assert hung_up["ok"] and hung_up["result"]["agent"]["state"] == "wrap_up", hung_up
        await stack.wait_event(call.call_id, ENDED)
        await stack.wait_event(new_leg, ENDED)
    stack.hang_up_everything(tenant)


async def test_blind_transfer_reaches_the_agent_phone_of_the_tenant_domain(
    stack: CtiStack,
) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob"):
        call = await stack.deliver(tenant, ada, "ada")
        moved = await ada.send("transfer", target_kind="agent", target="bob")
        assert moved["ok"], moved
        first = await stack.wait_first(call.call_id, {BRIDGED: 2, ENDED: 1})
        try:
            assert first == BRIDGED, "the caller hung up instead of reaching bob's phone"
            new_leg = stack.events(call.call_id, BRIDGED)[-1].data["other_call_id"]
            assert stack.endpoint_of(new_leg) == f"{tenant.extensions['bob']}@{tenant.domain}"
        finally:
            stack.hang_up_everything(tenant)


async def test_consult_then_complete_leaves_caller_with_the_consulted_agent(
    stack: CtiStack,
) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob"):
        call = await stack.deliver(tenant, ada, "ada")

        consult = await ada.send("consult", target_kind="agent", target="bob")
        assert consult["ok"], consult
        leg = consult["result"]["consult_call_id"]
        view = consult["result"]["agent"]
        assert view["state"] == "on_call" and view["call"]["held"] is True
        room = view["call"]["consult"]["room"]
        assert stack.endpoint_of(leg) == f"{tenant.extensions['bob']}@{tenant.domain}"
        await stack.eventually(
            lambda: stack.room_of(call.call_id) == (room, {call.call_id, call.agent_leg, leg}),
            what=lambda: f"the three legs in {room}: {stack.room_of(call.call_id)}",
        )
        assert stack.sim.world.channels[call.call_id].held, "the customer waits on hold"

        completed = await ada.send("consult_complete")
        assert completed["ok"], completed
        assert completed["result"]["transferred_to"] == {"kind": "agent", "target": "bob"}
        await stack.wait_event(call.agent_leg, ENDED)
        await stack.eventually(
            lambda: stack.room_of(call.call_id) == (room, {call.call_id, leg}),
            what=lambda: f"caller and bob left in {room}: {stack.room_of(call.call_id)}",
        )
        assert not stack.sim.world.channels[call.call_id].held
        assert stack.alive(call.call_id) and stack.alive(leg)
        record = await stack.wait_state(tenant, "ada", "wrap_up")
        assert record.call is None and record.wrapping[0] == call.call_id
    stack.hang_up_everything(tenant)


async def test_consulted_agent_is_busy_during_the_consultation(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob") as bob_desk:
        await stack.deliver(tenant, ada, "ada")
        consult = await ada.send("consult", target_kind="agent", target="bob")
        assert consult["ok"], consult
        leg = consult["result"]["consult_call_id"]
        try:
            notice = await bob_desk.next("colleague_call", WAIT_S)
            assert (notice["from_agent"], notice["kind"]) == ("ada", "consult")
            answered = await bob_desk.next("colleague_answered", WAIT_S)
            assert answered["call_id"] == leg
            bob = await stack.wait_state(tenant, "bob", "on_call")
            await stack.eventually(
                lambda: stack.states_published(tenant, "bob")[-2:] == ["reserved", "on_call"],
                what=lambda: f"bob reserved while ringing: {stack.states_published(tenant, 'bob')}",
            )
            assert bob.call is not None and bob.call.call_id == leg
            assert (await ada.send("consult_cancel"))["ok"]
            await stack.wait_state(tenant, "bob", "available")
            assert stack.record(tenant, "bob").call is None
            assert stack.state(tenant, "ada") == "on_call"
        finally:
            stack.hang_up_everything(tenant)


async def test_consulted_agent_is_on_the_call_after_complete(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob"):
        call = await stack.deliver(tenant, ada, "ada")
        consult = await ada.send("consult", target_kind="agent", target="bob")
        assert consult["ok"], consult
        assert (await ada.send("consult_complete"))["ok"]
        try:
            await stack.wait_state(tenant, "bob", "on_call", timeout_s=3.0)
            record = stack.record(tenant, "bob")
            assert record.call is not None and record.call.call_id == call.call_id
        finally:
            stack.hang_up_everything(tenant)


async def test_three_way_conference_from_the_desk(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob"):
        call = await stack.deliver(tenant, ada, "ada")
        leg, room = await stack.conference_in(ada, call, "bob")
        assert stack.state(tenant, "ada") == "on_call"

        assert stack.sim.hangup(leg), "bob leaves the conference"
        await ada.next("agent", WAIT_S, agent__call__conference_legs=[])
        assert stack.room_of(call.call_id) == (room, {call.call_id, call.agent_leg})
        assert stack.state(tenant, "ada") == "on_call"

        assert stack.sim.hangup(call.call_id), "the customer hangs up"
        await stack.wait_state(tenant, "ada", "wrap_up")
        await stack.eventually(
            lambda: not stack.alive(call.agent_leg), what=lambda: "ada's phone is not left alone"
        )
    stack.hang_up_everything(tenant)


async def test_customer_leaving_a_conference_ends_it_for_everyone(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob"):
        call = await stack.deliver(tenant, ada, "ada")
        leg, _ = await stack.conference_in(ada, call, "bob")
        try:
            bob = await stack.wait_state(tenant, "bob", "on_call")
            assert bob.call is not None and bob.call.internal_from == "ada", "no queue call now"
            assert stack.sim.hangup(call.call_id), "the customer hangs up"
            await stack.wait_state(tenant, "ada", "wrap_up")
            await stack.eventually(
                lambda: not stack.alive(call.agent_leg) and not stack.alive(leg),
                what=lambda: f"both agents' phones hung up (room: {stack.room_of(leg)})",
            )
            await stack.wait_event(leg, ENDED)
            await stack.wait_state(tenant, "bob", "available")
        finally:
            stack.hang_up_everything(tenant)


async def test_desk_hangup_in_a_conference_releases_the_agent_phone(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada", "bob"])
    async with stack.desk(tenant, "ada") as ada, stack.desk(tenant, "bob"):
        call = await stack.deliver(tenant, ada, "ada")
        await stack.conference_in(ada, call, "bob")
        hung_up = await ada.send("hangup")
        assert hung_up["ok"] and hung_up["result"]["agent"]["state"] == "wrap_up", hung_up
        await stack.wait_event(call.call_id, ENDED)
        try:
            await stack.eventually(
                lambda: not stack.alive(call.agent_leg),
                timeout_s=3.0,
                what=lambda: f"ada's leg hung up (room: {stack.room_of(call.agent_leg)})",
            )
        finally:
            stack.hang_up_everything(tenant)


async def test_hangup_from_the_desk_then_wrap_up(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada"])
    async with stack.desk(tenant, "ada") as desk:
        call = await stack.deliver(tenant, desk, "ada")

        hung_up = await desk.send("hangup")
        assert hung_up["ok"], hung_up
        agent = hung_up["result"]["agent"]
        assert agent["state"] == "wrap_up" and agent["call"] is None
        assert agent["disposition_done"] is False, "the tenant's policy wants a disposition"
        assert agent["wrap_up_until"] is not None
        assert {"type": "call_ended", "call_id": call.call_id} in desk.seen
        await stack.wait_event(call.call_id, ENDED)
        await stack.wait_event(call.agent_leg, ENDED)
        assert not stack.alive(call.call_id) and not stack.alive(call.agent_leg)

        unknown = await desk.send("wrap_up", disposition="shrug")
        assert unknown["error"]["error"] == "unknown-disposition", unknown
        done = await desk.send("wrap_up", disposition="resolved", notes="fixed it")
        assert done["ok"] and done["result"]["agent"]["state"] == "available", done

    wrapped = await stack.wrap_up_filed(tenant, "ada")
    assert (wrapped.call_id, wrapped.disposition, wrapped.queue_id) == (
        call.call_id,
        "resolved",
        "q-support",
    )
    await stack.eventually(
        lambda: (
            stack.states_published(tenant, "ada")[-1:] == ["available"]
            and len(stack.states_published(tenant, "ada")) >= 5
        ),
        what=lambda: f"ada's states on Kafka: {stack.states_published(tenant, 'ada')}",
    )
    assert stack.states_published(tenant, "ada")[:5] == [
        "available",
        "reserved",
        "on_call",
        "wrap_up",
        "available",
    ]


async def test_vanished_desktop_mid_call(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada"], wrap_up_s=0.5)
    await stack.put_policy(tenant, {"disposition_required": False})
    async with stack.desk(tenant, "ada") as desk:
        call = await stack.deliver(tenant, desk, "ada")
    # the desktop is gone (socket closed) while ada talks to the customer
    await stack.eventually(lambda: not stack.cti.hub.has_desktop((tenant.tenant_id, "ada")))
    await asyncio.sleep(DESKTOP_LOST_GRACE_S + 0.5)
    record = stack.record(tenant, "ada")
    assert record.status.state.value == "on_call", "losing the desktop ends no call"
    assert record.call is not None and record.call.call_id == call.call_id
    assert stack.alive(call.call_id) and stack.alive(call.agent_leg)

    assert stack.sim.hangup(call.call_id), "the customer hangs up"
    await stack.wait_event(call.call_id, ENDED)
    # wrap-up (0.5 s), then available without a desktop, then not ready after the grace
    record = await stack.wait_state(tenant, "ada", "not_ready")
    assert record.status.reason == "desktop-lost" and record.call is None
    await stack.eventually(
        lambda: (
            stack.states_published(tenant, "ada")[-4:]
            == ["on_call", "wrap_up", "available", "not_ready"]
        ),
        what=lambda: f"ada's states on Kafka: {stack.states_published(tenant, 'ada')}",
    )

    async with stack.desk(tenant, "ada") as again:
        # the desk() helper read the hello and made ada available again
        assert again.seen[0]["agent"]["state"] == "not_ready"
        assert again.seen[0]["agent"]["call"] is None


async def test_pause_right_after_start_stays_paused(stack: CtiStack) -> None:
    tenant = await stack.new_tenant(["ada"])
    await stack.put_policy(tenant, {"recording_control": "full"})
    async with stack.desk(tenant, "ada") as desk:
        call = await stack.deliver(tenant, desk, "ada")
        try:
            assert (await desk.send("record", action="start"))["ok"]
            paused = await desk.send("record", action="pause")
            assert paused["ok"] and paused["result"]["agent"]["call"]["recording"] == "paused"
            await stack.wait_event(call.call_id, CallRecordingStarted.EVENT_TYPE)
            with contextlib.suppress(TimeoutError):  # cti's push once it heard the event
                await desk.next("agent", 3.0)
            assert stack.sim.world.channels[call.call_id].get_var("record_masked") == "true"
            record = stack.record(tenant, "ada")
            assert record.call is not None and record.call.recording == "paused"
            resumed = await desk.send("record", action="resume")
            assert resumed["ok"], resumed
        finally:
            stack.hang_up_everything(tenant)
