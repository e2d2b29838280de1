"""What cti learns about a waiting call before it reaches an agent, and the screen pop.

From the moment a call enters the IVR until it is offered, cti collects its caller, IVR path
and key presses, its queue and its customer card (looked up ahead of the offer), so that the
pop can be pushed the instant routing offers the call, before the phone rings.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

CardStatus = Literal["pending", "found", "unknown", "unavailable"]
MAX_IVR_STEPS = 50


@dataclass(frozen=True, slots=True)
class IvrStep:
    node_id: str
    node_kind: str
    at: float


@dataclass(slots=True)
class CallContext:
    tenant_id: str
    call_id: str
    caller_number: str = ""
    caller_name: str = ""
    called_number: str = ""
    queue_id: str | None = None
    enqueued_at: float | None = None
    vip_level: int = 0
    ivr_flow_id: str | None = None
    ivr_path: list[IvrStep] = field(default_factory=list)
    digits: str = ""
    customer: dict[str, Any] | None = None
    card_status: CardStatus = "pending"
    lookup_started: bool = False

    def add_step(self, step: IvrStep) -> None:
        if len(self.ivr_path) < MAX_IVR_STEPS:
            self.ivr_path.append(step)

    def add_digit(self, digit: str) -> None:
        if len(self.digits) < 64:
            self.digits += digit


class CallContexts:
    """Contexts of recent calls, the least recently touched dropped beyond `capacity`."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._capacity = max(1, capacity)
        self._items: OrderedDict[tuple[str, str], CallContext] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, tenant_id: str, call_id: str) -> CallContext | None:
        return self._items.get((tenant_id, call_id))

    def ensure(self, tenant_id: str, call_id: str) -> CallContext:
        key = (tenant_id, call_id)
        context = self._items.get(key)
        if context is None:
            context = self._items[key] = CallContext(tenant_id, call_id)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return context

    def forget(self, tenant_id: str, call_id: str) -> None:
        self._items.pop((tenant_id, call_id), None)


def build_pop(
    context: CallContext,
    *,
    queue_id: str,
    queue_name: str,
    offered_at: float,
    ring_timeout_s: float,
    now: float,
) -> dict[str, Any]:
    """The screen-pop message for the desktop."""
    waited = max(0.0, now - context.enqueued_at) if context.enqueued_at is not None else 0.0
    return {
        "type": "pop",
        "call_id": context.call_id,
        "queue": {"id": queue_id, "name": queue_name or queue_id},
        "wait_s": round(waited, 1),
        "offered_at": offered_at,
        "popped_at": now,
        "ring_timeout_s": ring_timeout_s,
        "caller": {
            "number": context.caller_number,
            "name": context.caller_name,
            "called_number": context.called_number,
            "vip_level": context.vip_level,
        },
        "ivr": {
            "flow_id": context.ivr_flow_id,
            "path": [
                {"node_id": step.node_id, "node_kind": step.node_kind} for step in context.ivr_path
            ],
            "digits": context.digits,
        },
        "customer": context.customer,
        "card_status": context.card_status,
    }
