"""Use cases of the cti service.

- `AgentsService`: every agent's state machine, current call and routing profile (in memory,
  written through to the database with the `AgentStateChanged` event in one transaction),
  its desktop, its wrap-up timer, and what call events do to it;
- `ScreenPop`: what is known of a call before an agent gets it (caller, IVR path, customer
  card looked up ahead), and the pop pushed when routing offers the call;
- `CallControls`: the desktop's call commands, carried out over CallControl;
- `Supervision`: the supervisor's live view, forced states (audited), listen/whisper/barge.

Call events drive the state, not the desktop: a desktop that vanishes changes nothing but
its own connection (after a grace period an available agent goes not ready, so that no call
is offered to a screen nobody sees).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from switchboard_common.errors import AppError, Forbidden, NotFound, ValidationFailed
from switchboard_common.events.agents import (
    AgentSkill,
    AgentState,
    AgentStateChanged,
    AgentWrapUpCompleted,
)
from switchboard_common.events.calls import CallArrived, CallDtmf
from switchboard_common.events.ivr import IvrNodeEntered, IvrStarted
from switchboard_common.events.queues import CallEnqueued, CallOffered, CallOfferFailed
from switchboard_cti.callcontrol import CallControl, CallRef, EavesdropMode
from switchboard_cti.customers import CardUnavailable, CustomerCards
from switchboard_cti.directory import Directory
from switchboard_cti.domain import calls as calls_domain
from switchboard_cti.domain import protocol as p
from switchboard_cti.domain import states
from switchboard_cti.domain.calls import AgentCall, ConsultLeg, TransferTarget
from switchboard_cti.domain.context import CallContext, CallContexts, IvrStep, build_pop
from switchboard_cti.domain.states import AgentStatus, StateChange
from switchboard_cti.domain.supervision import queue_summaries
from switchboard_cti.hub import AgentKey, Connection, SessionHub
from switchboard_cti.notifier import AgentNotifier
from switchboard_cti.repository import AuditEntry, CtiRepository
from switchboard_cti.tickets import TicketCreator

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class UnknownAgent(NotFound):
    error_id = "no-such-agent"


class UnknownTransferTarget(NotFound):
    error_id = "unknown-transfer-target"


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat() if epoch is not None else None


@dataclass(eq=False)
class AgentRecord:
    """One agent, as this process holds it."""

    tenant_id: str
    agent_id: str
    display_name: str = ""
    extension: str | None = None
    skills: tuple[tuple[str, int], ...] = ()
    queues: tuple[str, ...] | None = None
    """Queues served; None: every queue of the tenant."""
    status: AgentStatus = field(default_factory=AgentStatus)
    call: AgentCall | None = None
    pop: dict[str, Any] | None = None
    wrapping: tuple[str | None, str | None] = (None, None)
    """(call id, queue id) of the call being wrapped up."""
    token: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    legs: frozenset[str] = frozenset()
    wrap_timer: asyncio.TimerHandle | None = None
    lost_timer: asyncio.TimerHandle | None = None

    @property
    def key(self) -> AgentKey:
        return (self.tenant_id, self.agent_id)


class AgentsService:
    def __init__(
        self,
        repository: CtiRepository,
        notifier: AgentNotifier,
        hub: SessionHub,
        directory: Directory,
        *,
        clock: Clock = time.time,
        desktop_lost_grace_s: float = 30.0,
    ) -> None:
        self._repository = repository
        self._notifier = notifier
        self._hub = hub
        self._directory = directory
        self._clock = clock
        self._lost_grace_s = desktop_lost_grace_s
        self._records: dict[AgentKey, AgentRecord] = {}
        self._legs: dict[tuple[str, str], list[AgentKey]] = {}
        """Agents concerned by each leg: a consulted colleague's phone leg is both the
        consulting agent's third leg and the colleague's own (internal) call."""
        self._tasks: set[asyncio.Task[None]] = set()
        self.dirty_tenants: set[str] = set()

    @property
    def hub(self) -> SessionHub:
        return self._hub

    @property
    def directory(self) -> Directory:
        return self._directory

    def now(self) -> float:
        return self._clock()

    # ---- loading and lookup ---------------------------------------------------------------

    async def load(self) -> None:
        """Take the agents back from the database (after a restart). A colleague's call that
        was still ringing went with the old process: that agent is available again."""
        for row in await self._repository.load_agents():
            record = AgentRecord(
                tenant_id=row["tenant_id"],
                agent_id=row["agent_id"],
                display_name=row["display_name"] or "",
                extension=row["extension"],
                skills=tuple((str(s[0]), int(s[1])) for s in row["skills"] or ()),
                queues=tuple(row["queues"]) if row["queues"] is not None else None,
                status=AgentStatus(
                    state=AgentState(row["state"]),
                    reason=row["reason"] or "",
                    since=float(row["state_since"]),
                    wrap_up_until=row["wrap_up_until"],
                    disposition_done=bool(row["disposition_done"]),
                ),
                call=AgentCall.from_json(row["call"]) if row["call"] else None,
            )
            self._records[record.key] = record
            self._reindex(record)
            self._schedule_timers(record)
            call = record.call
            if call is not None and call.internal_from and call.answered_at is None:
                record.call = None
                released = states.offer_failed(record.status, self._clock(), missed=False)
                await self._commit(record, released)

    async def stop(self) -> None:
        for record in self._records.values():
            for timer in (record.wrap_timer, record.lost_timer):
                if timer is not None:
                    timer.cancel()
        tasks, self._tasks = set(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def find(self, tenant_id: str, agent_id: str) -> AgentRecord | None:
        return self._records.get((tenant_id, agent_id))

    def require(self, tenant_id: str, agent_id: str) -> AgentRecord:
        record = self.find(tenant_id, agent_id)
        if record is None:
            raise UnknownAgent(
                f"no agent {agent_id}", details={"field": "agent_id", "agent_id": agent_id}
            )
        return record

    def ensure(self, tenant_id: str, agent_id: str) -> AgentRecord:
        record = self._records.get((tenant_id, agent_id))
        if record is None:
            record = AgentRecord(tenant_id, agent_id, status=AgentStatus(since=self._clock()))
            self._records[record.key] = record
        return record

    def by_leg(self, tenant_id: str, leg: str) -> AgentRecord | None:
        """The agent whose call this leg is; else one to whose call it belongs."""
        records = self.all_by_leg(tenant_id, leg)
        for record in records:
            if record.call is not None and record.call.call_id == leg:
                return record
        return records[0] if records else None

    def all_by_leg(self, tenant_id: str, leg: str) -> list[AgentRecord]:
        keys = self._legs.get((tenant_id, leg), ())
        return [self._records[key] for key in keys if key in self._records]

    def agents(self, tenant_id: str) -> list[AgentRecord]:
        return sorted(
            (r for r in self._records.values() if r.tenant_id == tenant_id),
            key=lambda r: r.agent_id,
        )

    def queues_of(self, record: AgentRecord) -> list[str]:
        if record.queues is not None:
            return list(record.queues)
        return [q.queue_id for q in self._directory.queues(record.tenant_id)]

    def snapshot(self, record: AgentRecord) -> dict[str, Any]:
        status = record.status
        return {
            "agent_id": record.agent_id,
            "display_name": record.display_name or record.agent_id,
            "state": status.state.value,
            "reason": status.reason,
            "since": status.since,
            "wrap_up_until": status.wrap_up_until,
            "disposition_done": status.disposition_done,
            "call": record.call.to_json() if record.call is not None else None,
            "wrapping_call_id": record.wrapping[0],
            "queues": self.queues_of(record),
            "skills": [{"name": n, "proficiency": v} for n, v in record.skills],
            "desktop_connected": self._hub.has_desktop(record.key),
        }

    # ---- the one place a change is applied ------------------------------------------------

    def _reindex(self, record: AgentRecord) -> None:
        legs = frozenset(record.call.legs()) if record.call is not None else frozenset()
        if legs == record.legs:
            return
        for leg in record.legs - legs:
            keys = self._legs.get((record.tenant_id, leg))
            if keys is not None and record.key in keys:
                keys.remove(record.key)
                if not keys:
                    del self._legs[(record.tenant_id, leg)]
        for leg in legs - record.legs:
            self._legs.setdefault((record.tenant_id, leg), []).append(record.key)
        record.legs = legs

    def publish_view(self, record: AgentRecord) -> None:
        """Push the agent's snapshot to its desktop and to the tenant's supervisors."""
        message = {"type": "agent", "agent": self.snapshot(record)}
        self._hub.to_agent(record.key, message)
        self._hub.to_supervisors(record.tenant_id, message)
        self.dirty_tenants.add(record.tenant_id)

    async def _commit(
        self,
        record: AgentRecord,
        change: StateChange,
        *,
        audit: AuditEntry | None = None,
        wrap_up: AgentWrapUpCompleted | None = None,
        announce_profile: bool = False,
    ) -> None:
        """Apply `change` (and whatever the caller did to `record.call`): desktop and
        supervisors first, then the row, the event and the audit entry in one transaction."""
        record.status = change.after
        self._reindex(record)
        self.publish_view(record)
        self._schedule_timers(record)
        announce = change.changed or announce_profile
        if not announce and audit is None and wrap_up is None and change.before == change.after:
            await self._save(record, None, None, None)
            return
        event = self._event(record, change) if announce else None
        await self._save(record, event, audit, wrap_up)

    def _event(self, record: AgentRecord, change: StateChange) -> AgentStateChanged:
        return AgentStateChanged(
            agent_id=record.agent_id,
            state=change.after.state,
            reason=change.after.reason,
            previous_state=change.previous_state,
            duration_in_previous_state_s=change.duration_in_previous_s,
            skills=[AgentSkill(name=n, proficiency=v) for n, v in record.skills],
            queues=self.queues_of(record),
            changed_at=datetime.fromtimestamp(change.after.since, UTC)
            if change.changed
            else datetime.fromtimestamp(self._clock(), UTC),
        )

    async def _save(
        self,
        record: AgentRecord,
        event: AgentStateChanged | None,
        audit: AuditEntry | None,
        wrap_up: AgentWrapUpCompleted | None,
    ) -> None:
        status = record.status
        values = {
            "tenant_id": record.tenant_id,
            "agent_id": record.agent_id,
            "display_name": record.display_name,
            "extension": record.extension,
            "skills": [list(s) for s in record.skills],
            "queues": list(record.queues) if record.queues is not None else None,
            "state": status.state.value,
            "reason": status.reason,
            "state_since": status.since,
            "wrap_up_until": status.wrap_up_until,
            "disposition_done": status.disposition_done,
            "call": record.call.to_json() if record.call is not None else None,
        }
        async with self._repository.transaction() as connection:
            await self._repository.save_agent(connection, values)
            if event is not None:
                await self._notifier.state_changed(connection, record.tenant_id, event)
            if audit is not None:
                await self._repository.add_audit(connection, audit)
            if wrap_up is not None:
                await self._repository.add_wrap_up(
                    connection,
                    tenant_id=record.tenant_id,
                    agent_id=record.agent_id,
                    call_id=wrap_up.call_id,
                    queue_id=wrap_up.queue_id,
                    disposition=wrap_up.disposition,
                    notes=wrap_up.notes,
                    at=wrap_up.completed_at,
                )
                await self._notifier.wrap_up_completed(connection, record.tenant_id, wrap_up)

    # ---- timers ---------------------------------------------------------------------------

    def _schedule_timers(self, record: AgentRecord) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if record.wrap_timer is not None:
            record.wrap_timer.cancel()
            record.wrap_timer = None
        status = record.status
        if status.state is AgentState.WRAP_UP and status.wrap_up_until is not None:
            delay = max(0.0, status.wrap_up_until - self._clock())
            record.wrap_timer = loop.call_later(delay, self._spawn_timer, record, "wrap")
        needs_lost = status.state is AgentState.AVAILABLE and not self._hub.has_desktop(record.key)
        if needs_lost and record.lost_timer is None:
            record.lost_timer = loop.call_later(
                self._lost_grace_s, self._spawn_timer, record, "lost"
            )
        elif not needs_lost and record.lost_timer is not None:
            record.lost_timer.cancel()
            record.lost_timer = None

    def _spawn_timer(self, record: AgentRecord, which: str) -> None:
        task = asyncio.ensure_future(self._timer_fired(record, which))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _timer_fired(self, record: AgentRecord, which: str) -> None:
        try:
            async with record.lock:
                now = self._clock()
                if which == "wrap":
                    record.wrap_timer = None
                    change = states.wrap_up_expired(record.status, now)
                    if change.after.state is not AgentState.WRAP_UP:
                        record.wrapping = (None, None)
                else:
                    record.lost_timer = None
                    if self._hub.has_desktop(record.key):
                        return
                    change = states.desktop_lost(record.status, now)
                if change.before != change.after:
                    await self._commit(record, change)
                else:
                    self._schedule_timers(record)
        except Exception:
            log.exception("agent %s: %s timer failed", record.agent_id, which)

    # ---- desktops -------------------------------------------------------------------------

    async def connect_desktop(
        self, tenant_id: str, agent_id: str, connection: Connection, token: str
    ) -> AgentRecord:
        record = self.ensure(tenant_id, agent_id)
        async with record.lock:
            record.token = token
            self._hub.attach_desktop(record.key, connection)
            self._schedule_timers(record)
            policy = self._directory.policy(tenant_id)
            connection.push(
                {
                    "type": "hello",
                    "agent": self.snapshot(record),
                    "pop": record.pop if record.call is not None else None,
                    "policy": policy.model_dump(mode="json"),
                    "queues": [
                        {"id": q.queue_id, "name": q.name}
                        for q in self._directory.queues(tenant_id)
                    ],
                    "server_time": self._clock(),
                }
            )
            self._hub.to_supervisors(tenant_id, {"type": "agent", "agent": self.snapshot(record)})
        return record

    async def disconnect_desktop(self, record: AgentRecord, connection: Connection) -> None:
        async with record.lock:
            if self._hub.detach_desktop(record.key, connection):
                self._schedule_timers(record)
                self._hub.to_supervisors(
                    record.tenant_id, {"type": "agent", "agent": self.snapshot(record)}
                )

    # ---- what agents and supervisors ask --------------------------------------------------

    async def set_state(
        self, tenant_id: str, agent_id: str, target: AgentState, reason: str = ""
    ) -> dict[str, Any]:
        record = self.ensure(tenant_id, agent_id)
        policy = self._directory.policy(tenant_id)
        async with record.lock:
            change = states.request(
                record.status,
                target,
                self._clock(),
                reason=reason,
                not_ready_reasons=policy.not_ready_reasons,
            )
            if record.status.state is AgentState.WRAP_UP:
                record.wrapping = (None, None)
            await self._commit(record, change)
            return self.snapshot(record)

    async def force_state(
        self,
        tenant_id: str,
        agent_id: str,
        target: AgentState,
        *,
        reason: str,
        actor: str,
        source: str,
    ) -> dict[str, Any]:
        record = self.require(tenant_id, agent_id)
        async with record.lock:
            now = self._clock()
            change = states.force(record.status, target, now, reason=reason)
            if record.status.state is AgentState.WRAP_UP:
                record.wrapping = (None, None)
            audit = AuditEntry(
                tenant_id=tenant_id,
                agent_id=agent_id,
                actor=actor,
                source=source,
                from_state=change.before.state.value,
                to_state=change.after.state.value,
                reason=change.after.reason,
                at=datetime.fromtimestamp(now, UTC),
            )
            await self._commit(record, change, audit=audit)
            self._hub.to_agent(
                record.key,
                {
                    "type": "forced",
                    "state": change.after.state.value,
                    "reason": change.after.reason,
                    "by": actor,
                },
            )
            return self.snapshot(record)

    async def submit_wrap_up(
        self,
        tenant_id: str,
        agent_id: str,
        *,
        disposition: str,
        notes: str,
        next_state: AgentState,
        reason: str,
    ) -> dict[str, Any]:
        record = self.ensure(tenant_id, agent_id)
        policy = self._directory.policy(tenant_id)
        if disposition and disposition not in policy.dispositions:
            raise ValidationFailed(
                f"unknown disposition {disposition!r}",
                field="disposition",
                error_id="unknown-disposition",
                details={"allowed": list(policy.dispositions)},
            )
        if policy.disposition_required and not disposition:
            raise ValidationFailed(
                "a disposition is required", field="disposition", error_id="disposition-required"
            )
        if policy.notes_required and not notes.strip():
            raise ValidationFailed("notes are required", field="notes", error_id="notes-required")
        async with record.lock:
            now = self._clock()
            before = record.status
            change = states.wrap_up_submitted(
                before,
                now,
                next_state=next_state,
                reason=reason,
                not_ready_reasons=policy.not_ready_reasons,
            )
            call_id, queue_id = record.wrapping
            filed = (
                AgentWrapUpCompleted(
                    agent_id=agent_id,
                    call_id=call_id,
                    queue_id=queue_id,
                    disposition=disposition,
                    notes=notes,
                    wrap_up_s=max(0.0, now - before.since),
                    completed_at=datetime.fromtimestamp(now, UTC),
                )
                if disposition
                else None
            )
            record.wrapping = (None, None)
            await self._commit(record, change, wrap_up=filed)
            return self.snapshot(record)

    async def update_profile(
        self,
        tenant_id: str,
        agent_id: str,
        *,
        display_name: str | None = None,
        extension: str | None = None,
        skills: Iterable[tuple[str, int]] | None = None,
        queues: Iterable[str] | None = None,
        all_queues: bool = False,
    ) -> dict[str, Any]:
        """Change the routing profile; announced when the agent is logged in."""
        record = self.ensure(tenant_id, agent_id)
        async with record.lock:
            if display_name is not None:
                record.display_name = display_name
            if extension is not None:
                record.extension = extension
            if skills is not None:
                record.skills = tuple(sorted(skills))
            if all_queues:
                record.queues = None
            elif queues is not None:
                record.queues = tuple(sorted(set(queues)))
            change = StateChange(record.status, record.status)
            await self._commit(
                record,
                change,
                announce_profile=record.status.state is not AgentState.LOGGED_OUT,
            )
            return self.snapshot(record)

    async def forget(self, tenant_id: str, agent_id: str) -> None:
        """The user is gone from admin: log the agent out (unless on a call) and drop it."""
        record = self.find(tenant_id, agent_id)
        if record is None:
            return
        async with record.lock:
            if record.status.on_a_call:
                return
            if record.status.state is not AgentState.LOGGED_OUT:
                change = states.force(record.status, AgentState.LOGGED_OUT, self._clock())
                await self._commit(record, change)
            connection = self._hub.desktop(record.key)
            if connection is not None:
                connection.push({"type": "takeover", "reason": "this user was deleted"})
                connection.close_soon(4003, "user deleted")
            self._records.pop(record.key, None)
            record.call = None
            self._reindex(record)
            async with self._repository.transaction() as db:
                await self._repository.delete_agent(db, tenant_id, agent_id)

    # ---- what call events do --------------------------------------------------------------

    async def offered(
        self, tenant_id: str, agent_id: str, call: AgentCall, pop: dict[str, Any]
    ) -> bool:
        """Reserve the agent and push the pop; False when the agent cannot take it."""
        record = self.ensure(tenant_id, agent_id)
        async with record.lock:
            try:
                await self._reserve(record, call, pop, pop=pop)
            except states.IllegalAgentTransition as exc:
                log.warning("offer of %s to %s ignored: %s", call.call_id, agent_id, exc.message)
                return False
            return True

    async def _reserve(
        self,
        record: AgentRecord,
        call: AgentCall,
        message: dict[str, Any],
        *,
        pop: dict[str, Any] | None,
    ) -> None:
        """(Lock held.) The agent's phone rings for `call`: reserved, `message` on the desk."""
        change = states.offered(record.status, self._clock())
        record.call = call
        record.pop = pop
        record.wrapping = (None, None)
        self._hub.to_agent(record.key, message)
        await self._commit(record, change)

    async def answered(self, tenant_id: str, agent_id: str, call_id: str) -> None:
        record = self.find(tenant_id, agent_id)
        if record is None:
            return
        async with record.lock:
            await self._answered(record, call_id, None)

    async def _answered(self, record: AgentRecord, call_id: str, agent_leg: str | None) -> None:
        now = self._clock()
        call = record.call
        if call is None or call_id not in call.legs():
            return
        if agent_leg and agent_leg != call.call_id and not call.agent_leg_id:
            call.agent_leg_id = agent_leg
        if call.answered_at is None:
            call.answered_at = now
        try:
            change = states.answered(record.status, now)
        except states.IllegalAgentTransition as exc:
            log.warning("answer on %s for %s ignored: %s", call_id, record.agent_id, exc.message)
            return
        await self._commit(record, change)

    async def bridged(self, tenant_id: str, call_id: str, other_call_id: str) -> None:
        record = self.by_leg(tenant_id, call_id) or self.by_leg(tenant_id, other_call_id)
        if record is None:
            return
        async with record.lock:
            if record.call is None:
                return
            if call_id == record.call.call_id:
                await self._answered(record, call_id, other_call_id)
            elif other_call_id == record.call.call_id:
                await self._answered(record, other_call_id, call_id)

    async def held(self, tenant_id: str, leg: str, on: bool) -> None:
        record = self.by_leg(tenant_id, leg)
        if record is None:
            return
        async with record.lock:
            await self._held(record, leg, on)

    async def _held(self, record: AgentRecord, leg: str, on: bool) -> None:
        call = record.call
        if call is None or leg != call.call_id or call.consult is not None:
            return
        call.held = on
        await self._commit(record, self._hold_change(record))

    def _hold_change(self, record: AgentRecord) -> StateChange:
        """on_hold while the customer waits on hold with nobody else to talk to, else on_call."""
        call = record.call
        status = record.status
        if call is None or status.state not in states.TALKING_STATES:
            return StateChange(status, status)
        waiting = call.held and call.consult is None
        step = states.held if waiting else states.resumed
        return step(status, self._clock())

    async def leg_ended(self, tenant_id: str, leg: str) -> None:
        """A leg hung up: the customer's or the agent's ends the agent's call; a consulted
        or conferenced party just leaves (and a consulted colleague's own call ends)."""
        for record in self.all_by_leg(tenant_id, leg):
            async with record.lock:
                call = record.call
                if call is None:
                    continue
                if leg in (call.call_id, call.agent_leg_id):
                    await self._finish_call(record)
                    continue
                if call.consult is not None and leg == call.consult.call_id:
                    call.consult = None
                if leg in call.conference_legs:
                    call.conference_legs.remove(leg)
                await self._commit(record, StateChange(record.status, record.status))

    async def colleague_ringing(
        self, tenant_id: str, agent_id: str, call: AgentCall, notice: dict[str, Any]
    ) -> bool:
        """A colleague is calling this agent for a consultation or a conference: an available
        agent is reserved for that internal call (`call.internal_from`), so routing offers
        nothing meanwhile. False when the agent was not available (the state stays)."""
        record = self.find(tenant_id, agent_id)
        if record is None:
            return False
        async with record.lock:
            if record.call is not None or record.status.state is not AgentState.AVAILABLE:
                return False
            await self._reserve(record, call, notice, pop=None)
            return True

    async def colleague_answered(
        self, tenant_id: str, agent_id: str, placeholder: str, leg: str | None
    ) -> None:
        """The colleague's phone answered (`leg`: on the internal call until that leg ends)
        or did not (None: available again)."""
        record = self.find(tenant_id, agent_id)
        if record is None:
            return
        async with record.lock:
            call = record.call
            if call is None or call.call_id != placeholder:
                return
            now = self._clock()
            if leg is None:
                record.call = None
                await self._commit(record, states.offer_failed(record.status, now, missed=False))
                return
            call.call_id = leg
            call.agent_leg_id = leg
            call.answered_at = now
            self._hub.to_agent(record.key, {"type": "colleague_answered", "call_id": leg})
            await self._commit(record, states.answered(record.status, now))

    async def take_over_internal(
        self, tenant_id: str, agent_id: str, leg: str, call: AgentCall, pop: dict[str, Any]
    ) -> bool:
        """The consulting agent completed the transfer: the colleague's internal call on
        `leg` becomes the customer's call, without leaving the call states."""
        record = self.find(tenant_id, agent_id)
        if record is None:
            return False
        async with record.lock:
            current = record.call
            if current is None or not current.internal_from or current.call_id != leg:
                return False
            call.answered_at = current.answered_at or self._clock()
            record.call = call
            record.pop = pop
            self._hub.to_agent(record.key, pop)
            await self._commit(record, StateChange(record.status, record.status))
            return True

    async def recording_seen(self, tenant_id: str, leg: str, on: bool) -> None:
        """The switch reports recording of an agent's call started or stopped."""
        record = self.by_leg(tenant_id, leg)
        if record is None:
            return
        async with record.lock:
            call = record.call
            if call is None:
                return
            if on and call.recording == "paused":
                return
            call.recording = "on" if on else "off"
            await self._commit(record, StateChange(record.status, record.status))

    async def finish_call(self, tenant_id: str, agent_id: str, call_id: str) -> None:
        """The agent left the call (transfer done, hang-up confirmed): wrap-up starts."""
        record = self.find(tenant_id, agent_id)
        if record is None:
            return
        async with record.lock:
            if record.call is not None and record.call.call_id == call_id:
                await self._finish_call(record)

    async def _finish_call(self, record: AgentRecord) -> None:
        call = record.call
        assert call is not None
        policy = self._directory.policy(record.tenant_id)
        talked = call.answered_at is not None and not call.internal_from
        change = states.call_ended(
            record.status,
            self._clock(),
            wrap_up_s=self._directory.wrap_up_s(record.tenant_id, call.queue_id) if talked else 0,
            disposition_required=policy.disposition_required and talked,
        )
        record.wrapping = (call.call_id, call.queue_id) if talked else (None, None)
        record.call = None
        record.pop = None
        self._hub.to_agent(record.key, {"type": "call_ended", "call_id": call.call_id})
        await self._commit(record, change)

    async def offer_failed(self, tenant_id: str, payload: CallOfferFailed) -> None:
        for agent_id in {*payload.missed_agent_ids, *payload.released_agent_ids}:
            record = self.find(tenant_id, agent_id)
            if record is None:
                continue
            async with record.lock:
                call = record.call
                if call is None or call.call_id != payload.call_id or call.answered_at:
                    continue
                missed = agent_id in payload.missed_agent_ids
                change = states.offer_failed(record.status, self._clock(), missed=missed)
                record.call = None
                record.pop = None
                self._hub.to_agent(
                    record.key,
                    {"type": "offer_withdrawn", "call_id": call.call_id, "missed": missed},
                )
                await self._commit(record, change)

    async def update_call(
        self,
        record: AgentRecord,
        call_id: str,
        mutate: Callable[[AgentCall], None],
    ) -> AgentCall:
        """Apply a control's outcome to the agent's call, if it is still that call."""
        async with record.lock:
            call = record.call
            if call is None or call.call_id != call_id:
                raise calls_domain.CallNotHeld(
                    f"the call {call_id} ended meanwhile", details={"field": "call_id"}
                )
            mutate(call)
            await self._commit(record, self._hold_change(record))
            return call

    def card_arrived(self, tenant_id: str, call_id: str, message: dict[str, Any]) -> None:
        record = self.by_leg(tenant_id, call_id)
        if record is None or record.call is None or record.call.call_id != call_id:
            return
        if record.pop is not None:
            record.pop = {
                **record.pop,
                "customer": message["customer"],
                "card_status": message["card_status"],
            }
        self._hub.to_agent(record.key, message)


class ScreenPop:
    """Collects what is known of waiting calls and pops it on the offered agents' desktops."""

    def __init__(
        self,
        agents: AgentsService,
        directory: Directory,
        cards: CustomerCards,
        *,
        contexts: CallContexts | None = None,
        card_wait_s: float = 0.15,
        max_lookups: int = 64,
    ) -> None:
        self._agents = agents
        self._directory = directory
        self._cards = cards
        self._contexts = contexts if contexts is not None else CallContexts()
        self._card_wait_s = card_wait_s
        self._lookups: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._limit = asyncio.Semaphore(max_lookups)

    @property
    def contexts(self) -> CallContexts:
        return self._contexts

    def call_arrived(self, tenant_id: str, payload: CallArrived) -> None:
        context = self._contexts.ensure(tenant_id, payload.call_id)
        context.caller_number = context.caller_number or payload.caller_number
        context.caller_name = payload.caller_name
        context.called_number = payload.destination_number

    def ivr_started(self, tenant_id: str, payload: IvrStarted) -> None:
        context = self._contexts.ensure(tenant_id, payload.call_id)
        context.caller_number = context.caller_number or payload.caller_number
        context.called_number = payload.called_number
        context.ivr_flow_id = payload.flow_id
        self._start_lookup(context)

    def ivr_node(self, tenant_id: str, payload: IvrNodeEntered) -> None:
        if payload.phase != "ivr":
            return
        context = self._contexts.ensure(tenant_id, payload.call_id)
        context.ivr_flow_id = context.ivr_flow_id or payload.flow_id
        context.add_step(
            IvrStep(payload.node_id, payload.node_kind, payload.entered_at.timestamp())
        )

    def dtmf(self, tenant_id: str, payload: CallDtmf) -> None:
        context = self._contexts.get(tenant_id, payload.call_id)
        if context is not None and self._agents.by_leg(tenant_id, payload.call_id) is None:
            context.add_digit(payload.digit)

    def call_enqueued(self, tenant_id: str, payload: CallEnqueued) -> None:
        context = self._contexts.ensure(tenant_id, payload.call_id)
        context.caller_number = payload.caller_number or context.caller_number
        context.queue_id = payload.queue_id
        context.enqueued_at = payload.enqueued_at.timestamp()
        context.vip_level = payload.vip_level
        self._start_lookup(context)

    def call_ended(self, tenant_id: str, call_id: str) -> None:
        self._contexts.forget(tenant_id, call_id)
        task = self._lookups.pop((tenant_id, call_id), None)
        if task is not None:
            task.cancel()

    def _start_lookup(self, context: CallContext) -> None:
        if context.lookup_started or not context.caller_number:
            return
        context.lookup_started = True
        key = (context.tenant_id, context.call_id)
        self._lookups[key] = asyncio.create_task(self._lookup(context))

    async def _lookup(self, context: CallContext) -> None:
        try:
            async with self._limit:
                card = await self._cards.lookup(context.tenant_id, context.caller_number)
            context.customer = card
            context.card_status = "found" if card is not None else "unknown"
        except CardUnavailable as exc:
            context.card_status = "unavailable"
            log.info("no card for call %s: %s", context.call_id, exc.message)
        except AppError as exc:
            context.card_status = "unavailable"
            log.warning("card look-up for call %s failed: %s", context.call_id, exc.message)
        finally:
            self._lookups.pop((context.tenant_id, context.call_id), None)
        self._agents.card_arrived(
            context.tenant_id,
            context.call_id,
            {
                "type": "card",
                "call_id": context.call_id,
                "customer": context.customer,
                "card_status": context.card_status,
            },
        )

    async def offered(self, tenant_id: str, payload: CallOffered) -> int:
        """Reserve the offered agents and pop the call on their desktops; how many popped."""
        context = self._contexts.ensure(tenant_id, payload.call_id)
        context.queue_id = context.queue_id or payload.queue_id
        pending = self._lookups.get((tenant_id, payload.call_id))
        if pending is not None and self._card_wait_s > 0:
            await asyncio.wait({pending}, timeout=self._card_wait_s)
        queue = self._directory.queue(tenant_id, payload.queue_id)
        now = self._agents.now()
        pop = build_pop(
            context,
            queue_id=payload.queue_id,
            queue_name=queue.name if queue else payload.queue_id,
            offered_at=payload.offered_at.timestamp(),
            ring_timeout_s=payload.ring_timeout_s,
            now=now,
        )
        popped = 0
        for agent_id in payload.agent_ids or [payload.agent_id]:
            call = AgentCall(
                call_id=payload.call_id,
                node_id=payload.node_id,
                queue_id=payload.queue_id,
                caller_number=context.caller_number,
                offered_at=now,
                reservation_id=payload.reservation_id,
            )
            if await self._agents.offered(tenant_id, agent_id, call, pop):
                popped += 1
        return popped


@dataclass(frozen=True, slots=True)
class Templates:
    agent_endpoint: str = "user/{extension}@{domain}"
    number_endpoint: str = "sofia/gateway/pstn/{number}"
    recording_path: str = "/var/lib/switchboard/recordings/{tenant}/{call_id}.wav"
    default_region: str = "US"
    consult_timeout_s: int = 30


class CallControls:
    """The desktop's call commands. Remote commands run outside the agent's lock (a slow
    switch must not stall call events); their outcome is applied if the call is still on."""

    def __init__(
        self,
        agents: AgentsService,
        callcontrol: CallControl,
        tickets: TicketCreator,
        notifier: AgentNotifier,
        repository: CtiRepository,
        *,
        templates: Templates | None = None,
    ) -> None:
        self._agents = agents
        self._cc = callcontrol
        self._tickets = tickets
        self._notifier = notifier
        self._repository = repository
        self._t = templates or Templates()

    async def execute(self, tenant_id: str, agent_id: str, command: Any) -> dict[str, Any]:
        """Carry out one desktop command; its reply's `result`."""
        agents = self._agents
        if isinstance(command, p.Ping):
            return {"pong": agents.now()}
        if isinstance(command, p.SetState):
            return {
                "agent": await agents.set_state(tenant_id, agent_id, command.state, command.reason)
            }
        if isinstance(command, p.WrapUp):
            agent = await agents.submit_wrap_up(
                tenant_id,
                agent_id,
                disposition=command.disposition,
                notes=command.notes,
                next_state=command.next_state,
                reason=command.reason,
            )
            return {"agent": agent}
        record = agents.ensure(tenant_id, agent_id)
        if isinstance(command, p.CreateTicket):
            return await self._create_ticket(record, command)
        call = calls_domain.require_call(record.call, getattr(command, "call_id", None))
        handlers: dict[type[Any], Callable[[AgentRecord, AgentCall, Any], Any]] = {
            p.Answer: self._answer,
            p.Hangup: self._hangup,
            p.Hold: self._hold,
            p.Mute: self._mute,
            p.Transfer: self._transfer,
            p.Consult: self._consult,
            p.ConsultStep: self._consult_step,
            p.Conference: self._conference,
            p.Dtmf: self._dtmf,
            p.Record: self._record,
        }
        handler = handlers.get(type(command))
        if handler is None:
            raise ValidationFailed(f"unknown command {command.cmd}", field="cmd")
        result: dict[str, Any] = await handler(record, call, command)
        return result

    def _ref(self, record: AgentRecord, call: AgentCall, leg: str | None = None) -> CallRef:
        return CallRef(record.tenant_id, leg or call.call_id, call.node_id)

    def _view(self, record: AgentRecord) -> dict[str, Any]:
        return {"agent": self._agents.snapshot(record)}

    async def _answer(self, record: AgentRecord, call: AgentCall, _: p.Answer) -> dict[str, Any]:
        if call.answered_at is not None:
            raise calls_domain.CallStateConflict(
                "the call is already answered", details={"field": "call_id"}
            )
        await self._cc.answer(self._ref(record, call, call.agent_leg_id))
        await self._agents.answered(record.tenant_id, record.agent_id, call.call_id)
        return self._view(record)

    async def _hangup(self, record: AgentRecord, call: AgentCall, _: p.Hangup) -> dict[str, Any]:
        if call.answered_at is None:
            if not call.agent_leg_id:
                raise calls_domain.CallStateConflict(
                    "the call is still being set up; let it ring out or answer it",
                    details={"field": "call_id"},
                )
            await self._cc.hangup(self._ref(record, call, call.agent_leg_id), "CALL_REJECTED")
            return self._view(record)
        await self._cc.hangup(self._ref(record, call))
        await self._agents.finish_call(record.tenant_id, record.agent_id, call.call_id)
        return self._view(record)

    async def _hold(self, record: AgentRecord, call: AgentCall, command: p.Hold) -> dict[str, Any]:
        on = command.cmd == "hold"
        calls_domain.check_hold(call, on)
        await self._cc.hold(self._ref(record, call), on)
        await self._agents.held(record.tenant_id, call.call_id, on)
        return self._view(record)

    async def _mute(self, record: AgentRecord, call: AgentCall, command: p.Mute) -> dict[str, Any]:
        calls_domain.require_talking(call, command.cmd)
        muted = command.cmd == "mute"
        if not call.agent_leg_id:
            raise calls_domain.CallStateConflict(
                f"cannot {command.cmd}: the agent's leg of the call is not known yet",
                details={"field": "call_id"},
            )
        await self._cc.mute(self._ref(record, call, call.agent_leg_id), muted)

        def apply(current: AgentCall) -> None:
            current.muted = muted

        await self._agents.update_call(record, call.call_id, apply)
        return self._view(record)

    def _dial(self, record: AgentRecord, target: TransferTarget) -> str:
        if target.kind == "agent":
            other = self._agents.find(record.tenant_id, target.value)
            if other is None or other.agent_id == record.agent_id:
                raise UnknownTransferTarget(
                    f"no agent {target.value} to transfer to",
                    details={"field": "target", "target_kind": "agent"},
                )
            domain = self._agents.directory.sip_domain(record.tenant_id)
            if domain is None:
                raise UnknownTransferTarget(
                    "the tenant's SIP domain is not known yet: its agents cannot be dialled",
                    details={"field": "target", "target_kind": "agent"},
                )
            return self._t.agent_endpoint.format(
                extension=other.extension or other.agent_id, domain=domain
            )
        if target.kind == "number":
            return self._t.number_endpoint.format(number=target.value)
        raise ValidationFailed(
            "a queue cannot be dialled; transfer the caller to it instead",
            field="target_kind",
            error_id="invalid-transfer-target",
        )

    def _target(self, record: AgentRecord, kind: str, value: str) -> TransferTarget:
        if kind == "number":
            return TransferTarget(
                "number", calls_domain.normalise_number(value, self._t.default_region)
            )
        if kind == "queue":
            if self._agents.directory.queue(record.tenant_id, value) is None:
                raise UnknownTransferTarget(
                    f"no queue {value} to transfer to",
                    details={"field": "target", "target_kind": "queue"},
                )
            return TransferTarget("queue", value)
        return TransferTarget("agent", value)

    async def _transfer(
        self, record: AgentRecord, call: AgentCall, command: p.Transfer
    ) -> dict[str, Any]:
        calls_domain.check_no_consult(call, "transfer")
        target = self._target(record, command.target_kind, command.target)
        if target.kind == "queue":
            await self._cc.park(self._ref(record, call))
            requeued = CallEnqueued(
                call_id=call.call_id,
                queue_id=target.value,
                node_id=call.node_id,
                caller_number=call.caller_number,
                enqueued_at=datetime.now(UTC),
            )
            async with self._repository.transaction() as connection:
                await self._notifier.call_requeued(connection, record.tenant_id, requeued)
        else:
            if target.kind == "agent":
                self._require_available(record, target.value)
            await self._cc.transfer(self._ref(record, call), f"bridge:{self._dial(record, target)}")
        pop = record.pop
        await self._agents.finish_call(record.tenant_id, record.agent_id, call.call_id)
        if target.kind == "agent":
            await self._hand_over(record, call, target.value, pop)
        return {
            "transferred_to": {"kind": target.kind, "target": target.value},
            **self._view(record),
        }

    def _require_available(self, record: AgentRecord, agent_id: str) -> None:
        other = self._agents.find(record.tenant_id, agent_id)
        if other is not None and other.status.state is not AgentState.AVAILABLE:
            raise calls_domain.CallStateConflict(
                f"agent {agent_id} is {other.status.state.value}, not available",
                error_id="transfer-target-busy",
                details={"field": "target", "target_state": other.status.state.value},
            )

    async def _hand_over(
        self,
        record: AgentRecord,
        call: AgentCall,
        agent_id: str,
        pop: dict[str, Any] | None,
        *,
        talking_on: str | None = None,
        room: str | None = None,
    ) -> None:
        """The agent a call was transferred to is reserved for it and gets the same pop; after a
        consultation (`talking_on` their phone's leg, in `room`) they are already talking."""
        handed = AgentCall(
            call_id=call.call_id,
            node_id=call.node_id,
            queue_id=call.queue_id,
            caller_number=call.caller_number,
            offered_at=self._agents.now(),
            agent_leg_id=talking_on,
            conference_room=room,
        )
        if pop is None:
            context = CallContext(record.tenant_id, call.call_id, caller_number=call.caller_number)
            pop = build_pop(
                context,
                queue_id=call.queue_id or "",
                queue_name="",
                offered_at=handed.offered_at,
                ring_timeout_s=0.0,
                now=handed.offered_at,
            )
        message = {**pop, "popped_at": handed.offered_at}
        message["transferred_from"] = record.agent_id
        if talking_on is not None and await self._agents.take_over_internal(
            record.tenant_id, agent_id, talking_on, handed, message
        ):
            return
        if not await self._agents.offered(record.tenant_id, agent_id, handed, message):
            log.warning("transfer of %s: agent %s could not be reserved", call.call_id, agent_id)
            return
        if talking_on is not None:
            await self._agents.answered(record.tenant_id, agent_id, call.call_id)

    def _agent_leg(self, call: AgentCall, action: str) -> str:
        if not call.agent_leg_id:
            raise calls_domain.CallStateConflict(
                f"cannot {action}: the agent's leg of the call is not known yet",
                details={"field": "call_id"},
            )
        return call.agent_leg_id

    async def _add_party(
        self,
        record: AgentRecord,
        call: AgentCall,
        target: TransferTarget,
        room: str,
        kind: Literal["consult", "conference"],
    ) -> str:
        dial = self._dial(record, target)
        colleague = target.value if target.kind == "agent" else None
        ringing = (
            await self._colleague_ringing(record, call, colleague, kind)
            if colleague is not None
            else None
        )
        try:
            leg = await self._cc.originate(
                record.tenant_id,
                call.node_id,
                dial,
                timeout_s=self._t.consult_timeout_s,
                variables={"sb_consult_for": call.call_id, "sb_agent": record.agent_id},
            )
        except BaseException:
            if colleague is not None and ringing is not None:
                await self._agents.colleague_answered(record.tenant_id, colleague, ringing, None)
            raise
        if colleague is not None and ringing is not None:
            await self._agents.colleague_answered(record.tenant_id, colleague, ringing, leg)
        await self._cc.conference(
            record.tenant_id,
            call.node_id,
            [call.call_id, self._agent_leg(call, "conference"), leg],
            room,
        )
        return leg

    async def _colleague_ringing(
        self, record: AgentRecord, call: AgentCall, colleague: str, kind: str
    ) -> str | None:
        """Reserve an available colleague while their phone rings for a consultation or a
        conference (an internal call with a placeholder id until the leg answers)."""
        placeholder = f"colleague-{uuidlib.uuid4().hex}"
        internal = AgentCall(
            call_id=placeholder,
            node_id=call.node_id,
            caller_number=record.extension or record.agent_id,
            offered_at=self._agents.now(),
            internal_from=record.agent_id,
        )
        notice = {
            "type": "colleague_call",
            "kind": kind,
            "from_agent": record.agent_id,
            "for_call_id": call.call_id,
            "caller_number": call.caller_number,
        }
        reserved = await self._agents.colleague_ringing(
            record.tenant_id, colleague, internal, notice
        )
        return placeholder if reserved else None

    async def _consult(
        self, record: AgentRecord, call: AgentCall, command: p.Consult
    ) -> dict[str, Any]:
        calls_domain.check_no_consult(call, "consult")
        self._agent_leg(call, "consult")
        target = self._target(record, command.target_kind, command.target)
        room = calls_domain.conference_room("sb-consult", call.call_id)
        if not call.held:
            await self._cc.hold(self._ref(record, call), True)
        try:
            leg = await self._add_party(record, call, target, room, "consult")
        except AppError:
            await self._cc.hold(self._ref(record, call), False)
            await self._agents.held(record.tenant_id, call.call_id, False)
            raise

        def apply(current: AgentCall) -> None:
            current.held = True
            current.consult = ConsultLeg(leg, target, room)

        await self._agents.update_call(record, call.call_id, apply)
        return {"consult_call_id": leg, **self._view(record)}

    async def _consult_step(
        self, record: AgentRecord, call: AgentCall, command: p.ConsultStep
    ) -> dict[str, Any]:
        consult = calls_domain.require_consult(call, command.cmd.removeprefix("consult_"))
        customer = self._ref(record, call)
        other = self._ref(record, call, consult.call_id)
        if command.cmd == "consult_swap":
            to_consult = not consult.talking_to_consult
            await self._cc.hold(customer if to_consult else other, True)
            await self._cc.hold(other if to_consult else customer, False)

            def swap(current: AgentCall) -> None:
                if current.consult is not None:
                    current.consult.talking_to_consult = to_consult
                current.held = to_consult

            await self._agents.update_call(record, call.call_id, swap)
            return self._view(record)
        if command.cmd == "consult_cancel":
            await self._cc.hangup(other)
            await self._cc.hold(customer, False)

            def cancel(current: AgentCall) -> None:
                current.consult = None
                current.held = False

            await self._agents.update_call(record, call.call_id, cancel)
            return self._view(record)
        await self._cc.hold(customer, False)
        if not consult.talking_to_consult:
            await self._cc.hold(other, False)
        await self._cc.hangup(self._ref(record, call, self._agent_leg(call, "complete")))
        pop = record.pop
        await self._agents.finish_call(record.tenant_id, record.agent_id, call.call_id)
        if consult.target.kind == "agent":
            await self._hand_over(
                record,
                call,
                consult.target.value,
                pop,
                talking_on=consult.call_id,
                room=consult.room,
            )
        return {"transferred_to": {"kind": consult.target.kind, "target": consult.target.value}}

    async def _conference(
        self, record: AgentRecord, call: AgentCall, command: p.Conference
    ) -> dict[str, Any]:
        consult = call.consult
        if consult is not None:
            await self._cc.hold(self._ref(record, call), False)
            if not consult.talking_to_consult:
                await self._cc.hold(self._ref(record, call, consult.call_id), False)

            def merge(current: AgentCall) -> None:
                current.conference_room = consult.room
                current.conference_legs.append(consult.call_id)
                current.consult = None
                current.held = False

            await self._agents.update_call(record, call.call_id, merge)
            return self._view(record)
        calls_domain.require_talking(call, "conference")
        if command.target_kind is None or command.target is None:
            raise ValidationFailed(
                "name whom to add (target_kind and target), or consult first", field="target"
            )
        target = self._target(record, command.target_kind, command.target)
        room = call.conference_room or calls_domain.conference_room("sb-conf", call.call_id)
        leg = await self._add_party(record, call, target, room, "conference")

        def add(current: AgentCall) -> None:
            current.conference_room = room
            current.conference_legs.append(leg)

        await self._agents.update_call(record, call.call_id, add)
        return {"conference_call_id": leg, **self._view(record)}

    async def _dtmf(self, record: AgentRecord, call: AgentCall, command: p.Dtmf) -> dict[str, Any]:
        calls_domain.require_talking(call, "send digits")
        digits = calls_domain.check_dtmf(command.digits)
        consult = call.consult
        leg = consult.call_id if consult is not None and consult.talking_to_consult else None
        await self._cc.send_dtmf(self._ref(record, call, leg), digits)
        return {"sent": digits}

    async def _record(
        self, record: AgentRecord, call: AgentCall, command: p.Record
    ) -> dict[str, Any]:
        policy = self._agents.directory.policy(record.tenant_id)
        if not policy.recording_allowed(command.action):
            raise Forbidden(
                f"the recording policy does not let agents {command.action} recording",
                error_id="recording-not-allowed",
                details={"field": "action", "recording_control": policy.recording_control},
            )
        calls_domain.require_talking(call, f"{command.action} recording")
        after = calls_domain.next_recording_state(call.recording, command.action)
        path = self._t.recording_path.format(tenant=record.tenant_id, call_id=call.call_id)
        await self._cc.record(self._ref(record, call), command.action, path)

        def apply(current: AgentCall) -> None:
            current.recording = after

        await self._agents.update_call(record, call.call_id, apply)
        return self._view(record)

    async def _create_ticket(self, record: AgentRecord, command: p.CreateTicket) -> dict[str, Any]:
        call_id = command.call_id
        customer_id: str | None = None
        if record.call is not None and call_id in (None, record.call.call_id):
            call_id = record.call.call_id
        elif call_id is None:
            call_id = record.wrapping[0]
        pop = record.pop
        if pop is not None and pop.get("call_id") == call_id and pop.get("customer"):
            customer_id = pop["customer"].get("id") or None
        if record.token is None:
            raise Forbidden("no desktop session to act for", error_id="no-desktop-session")
        body: dict[str, Any] = {
            "subject": command.subject,
            "description": command.description,
            "category": command.category,
            "urgency": command.urgency,
            "impact": command.impact,
        }
        if call_id:
            body["origin_call_id"] = call_id
        if customer_id:
            body["customer_id"] = customer_id
        ticket = await self._tickets.create(record.token, body)
        return {
            "ticket": {
                "id": ticket.get("id"),
                "number": ticket.get("number"),
                "subject": ticket.get("subject"),
                "origin_call_id": call_id,
            }
        }


class Supervision:
    """The supervisor's live view and actions."""

    def __init__(self, agents: AgentsService, callcontrol: CallControl) -> None:
        self._agents = agents
        self._cc = callcontrol

    def snapshot(self, tenant_id: str) -> dict[str, Any]:
        agents = [self._agents.snapshot(r) for r in self._agents.agents(tenant_id)]
        return {
            "type": "snapshot",
            "agents": agents,
            "queues": queue_summaries(
                agents, self._agents.directory.queue_names(tenant_id), self._agents.now()
            ),
        }

    def queue_view(self, tenant_id: str) -> dict[str, Any]:
        agents = [self._agents.snapshot(r) for r in self._agents.agents(tenant_id)]
        return {
            "type": "queues",
            "queues": queue_summaries(
                agents, self._agents.directory.queue_names(tenant_id), self._agents.now()
            ),
        }

    async def eavesdrop(
        self, tenant_id: str, agent_id: str, mode: EavesdropMode, endpoint: str
    ) -> dict[str, Any]:
        record = self._agents.require(tenant_id, agent_id)
        call = calls_domain.require_call(record.call, None)
        calls_domain.require_talking(call, mode)
        ref = CallRef(tenant_id, call.agent_leg_id or call.call_id, call.node_id)
        leg = await self._cc.eavesdrop(ref, endpoint, mode, 30)
        return {"supervisor_call_id": leg, "call_id": call.call_id, "mode": mode}


class SupervisorFeed:
    """Component: pushes the per-queue view to supervisors about once a second, for tenants
    where something changed."""

    def __init__(
        self, agents: AgentsService, supervision: Supervision, *, interval_s: float = 1.0
    ) -> None:
        self._agents = agents
        self._supervision = supervision
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="cti-supervisor-feed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                self.flush()
            except Exception:
                log.exception("supervisor feed failed")

    def flush(self) -> None:
        hub = self._agents.hub
        watched = set(hub.supervised_tenants())
        for tenant_id in self._agents.dirty_tenants & watched:
            hub.to_supervisors(tenant_id, self._supervision.queue_view(tenant_id))
        self._agents.dirty_tenants.clear()
