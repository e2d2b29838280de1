"""What ivr does with a call routing overflowed out of its queue (`queue.call_overflowed`).

The overflow target becomes a small synthetic flow built of the interpreter's own node kinds,
so the caller gets exactly the behaviour of a flow's voicemail, callback or transfer node
(prompts, retries, E.164 checks, `voicemail.left` / `callback.requested`, `ivr.completed`):

- voicemail -> a `voicemail` node recording into the target mailbox (the queue id if none);
- callback  -> a `callback` node offering the caller's number, then a `hangup` node;
- external  -> a `transfer` node to the target number (must be E.164).

The synthetic nodes' ids start with `overflow-`, so `ivr.completed.last_node` says the run
ended on an overflow. A `queue` target needs nothing from ivr: routing moves the call into
the other queue itself. Prompt ids are tenant prompts (`overflow_voicemail`, ...); a tenant
without them hears the default prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import phonenumbers

from switchboard_common.errors import ValidationFailed
from switchboard_common.events.queues import CallOverflowed
from switchboard_ivr.domain import Flow, parse_flow
from switchboard_ivr.domain.model import is_e164

VOICEMAIL_NODE: Final = "overflow-voicemail"
CALLBACK_NODE: Final = "overflow-callback"
CALLBACK_END_NODE: Final = "overflow-callback-end"
TRANSFER_NODE: Final = "overflow-transfer"
HANDLED_BY_IVR: Final = frozenset({"voicemail", "callback", "external"})
"""Target kinds ivr carries out; `queue` is routing's own business."""
DEFAULT_COUNTRY: Final = "US"


@dataclass(frozen=True, slots=True)
class OverflowOptions:
    """Prompts and limits of the overflow behaviour (tenant prompt ids)."""

    voicemail_greeting: str = "overflow_voicemail"
    voicemail_max_length_s: int = 120
    voicemail_open_ticket: bool = True
    callback_prompt: str = "overflow_callback"
    callback_confirm_prompt: str = "overflow_callback_confirm"
    callback_readback_prompt: str = "overflow_callback_readback"
    callback_invalid_prompt: str | None = None


def overflow_flow(
    base: Flow,
    event: CallOverflowed,
    *,
    caller_number: str,
    options: OverflowOptions | None = None,
) -> Flow:
    """The flow that carries the caller to `event`'s target; keeps the base flow's id and
    language so that events name the flow the caller came through."""
    options = options or OverflowOptions()
    kind = event.target_kind
    nodes: list[dict[str, Any]]
    if kind == "voicemail":
        nodes = [
            {
                "id": VOICEMAIL_NODE,
                "kind": "voicemail",
                "mailbox": event.target or event.queue_id,
                "greeting": options.voicemail_greeting,
                "max_length_s": options.voicemail_max_length_s,
                "open_ticket": options.voicemail_open_ticket,
            }
        ]
    elif kind == "callback":
        nodes = [
            {
                "id": CALLBACK_NODE,
                "kind": "callback",
                "prompt": options.callback_prompt,
                "confirm_prompt": options.callback_confirm_prompt,
                "readback_prompt": options.callback_readback_prompt,
                "invalid_prompt": options.callback_invalid_prompt,
                "offer_caller_number": True,
                "country": caller_country(caller_number),
                "queue": event.target or event.queue_id,
                "next": CALLBACK_END_NODE,
                "failure": CALLBACK_END_NODE,
            },
            {"id": CALLBACK_END_NODE, "kind": "hangup"},
        ]
    elif kind == "external":
        if not is_e164(event.target):
            raise ValidationFailed(
                f"overflow target {event.target!r} is not an E.164 number",
                field="target",
                error_id="overflow-target-not-e164",
                details={"queue_id": event.queue_id, "target_kind": kind},
            )
        nodes = [{"id": TRANSFER_NODE, "kind": "transfer", "number": event.target}]
    else:
        raise ValidationFailed(
            f"ivr does not carry out overflow targets of kind {kind!r}",
            field="target_kind",
            error_id="overflow-target-not-for-ivr",
            details={"queue_id": event.queue_id},
        )
    document: dict[str, Any] = {"id": base.id, "name": base.name, "start": nodes[0]["id"]}
    if base.language is not None:
        document["language"] = base.language
    document["nodes"] = nodes
    return parse_flow(document)


def caller_country(caller_number: str) -> str:
    """The region of an E.164 caller number (for the callback number's keypad entry)."""
    if not is_e164(caller_number):
        return DEFAULT_COUNTRY
    region = phonenumbers.region_code_for_number(phonenumbers.parse(caller_number, None))
    return region if region and len(region) == 2 and region.isalpha() else DEFAULT_COUNTRY
