"""The only place the routing service publishes events.

- Queue configuration changes (`queue.config_changed`, `queue.deleted` on
  `switchboard.config.v1`) go to the outbox in the transaction that stores the change.
- Call events on `switchboard.queues.v1` (`queue.call_offered` with its `routing.decision`,
  `queue.call_answered`, `queue.call_offer_failed`, `queue.call_abandoned`,
  `queue.call_overflowed`, and `queue.call_dequeued` once per exit from a queue) describe
  the in-memory engine: `CallEvents` turns engine results into envelopes, which the routing
  service buffers per partition and the partition writer puts in the outbox in a transaction
  fenced by the partition's epoch, so that a previous owner can never publish once fenced.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from switchboard_common.events import Envelope, EventPayload
from switchboard_common.events.queues import QueueDeleted, RoutingDecisionMade
from switchboard_routing.domain import (
    CallLeft,
    LeaveReason,
    Offer,
    OfferResolution,
    Overflow,
    QueueConfig,
    RoutingDecision,
    translate,
)

SOURCE = "switchboard/routing"


class EventSink(Protocol):
    """Where envelopes go inside a transaction (`switchboard_common.outbox.Outbox`)."""

    async def add(self, session: AsyncSession, envelope: Envelope) -> None: ...


class ConfigNotifier:
    """Queue configuration events, written in the caller's transaction."""

    def __init__(self, sink: EventSink, *, source: str = SOURCE) -> None:
        self._sink = sink
        self._source = source

    async def queue_changed(
        self, session: AsyncSession, tenant_id: str, config: QueueConfig, version: int, at: float
    ) -> None:
        payload = translate.queue_config_changed(config, version=version, changed_at=at)
        await self._add(session, tenant_id, payload, config.queue_id, at)

    async def queue_deleted(
        self, session: AsyncSession, tenant_id: str, queue_id: str, version: int, at: float
    ) -> None:
        payload = QueueDeleted(
            queue_id=queue_id, version=version, deleted_at=translate.from_epoch(at)
        )
        await self._add(session, tenant_id, payload, queue_id, at)

    async def _add(
        self, session: AsyncSession, tenant_id: str, payload: EventPayload, subject: str, at: float
    ) -> None:
        envelope = Envelope.wrap(
            payload,
            source=self._source,
            tenant=tenant_id,
            subject=subject,
            time=translate.from_epoch(at),
        )
        await self._sink.add(session, envelope)


class CallEvents:
    """Envelopes for what the engine did to calls; each one is handed to `emit`."""

    def __init__(self, emit: Callable[[Envelope], None], *, source: str = SOURCE) -> None:
        self._emit = emit
        self._source = source

    def _wrap(self, tenant_id: str, payload: EventPayload, subject: str, at: float) -> None:
        self._emit(
            Envelope.wrap(
                payload,
                source=self._source,
                tenant=tenant_id,
                subject=subject,
                time=translate.from_epoch(at),
            )
        )

    def offered(self, tenant_id: str, offer: Offer) -> RoutingDecisionMade:
        """`routing.decision` then `queue.call_offered`; returns the decision payload."""
        decision = decision_payload(offer.decision, epoch=offer.epoch)
        self._wrap(tenant_id, decision, offer.call_id, offer.offered_at)
        self._wrap(tenant_id, translate.call_offered(offer), offer.call_id, offer.offered_at)
        return decision

    def offer_ended(self, tenant_id: str, resolution: OfferResolution) -> None:
        """`queue.call_answered` (and its `call_dequeued`) or `queue.call_offer_failed`."""
        self._wrap(tenant_id, translate.offer_ended(resolution), resolution.call_id, resolution.at)
        if resolution.answered_by is not None:
            self._dequeued(
                tenant_id,
                resolution.call_id,
                resolution.queue_id,
                "answered",
                resolution.waited_seconds,
                resolution.at,
            )

    def left(self, tenant_id: str, left: CallLeft) -> None:
        """`queue.call_abandoned` for a hang-up, and the `call_dequeued` of any exit."""
        reason = "abandoned" if left.reason is LeaveReason.ABANDONED else "removed"
        if left.reason is LeaveReason.ABANDONED:
            self._wrap(tenant_id, translate.call_abandoned(left), left.call_id, left.at)
        self._dequeued(tenant_id, left.call_id, left.queue_id, reason, left.waited_seconds, left.at)

    def overflowed(self, tenant_id: str, overflow: Overflow) -> None:
        self._wrap(tenant_id, translate.call_overflowed(overflow), overflow.call_id, overflow.at)
        self._dequeued(
            tenant_id,
            overflow.call_id,
            overflow.from_queue_id,
            "overflowed",
            overflow.waited_seconds,
            overflow.at,
        )

    def _dequeued(
        self,
        tenant_id: str,
        call_id: str,
        queue_id: str,
        reason: str,
        waited_seconds: float,
        at: float,
    ) -> None:
        payload = translate.call_dequeued(
            call_id=call_id, queue_id=queue_id, reason=reason, waited_seconds=waited_seconds, at=at
        )
        self._wrap(tenant_id, payload, call_id, at)


def decision_payload(decision: RoutingDecision, *, epoch: int) -> RoutingDecisionMade:
    return translate.decision_made(decision, epoch=epoch)
