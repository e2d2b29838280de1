"""The concurrent-call quota rule applied when a call arrives (the adapter counts the calls)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from switchboard_common.events.ivr import IvrCompleted
from switchboard_ivr.domain.ports import PromptCatalog
from switchboard_ivr.domain.runtime import (
    CallContext,
    Effect,
    EmitEvent,
    Hangup,
    Play,
    PlaybackItem,
    StepWarning,
)
from switchboard_ivr.domain.say import TONES

BUSY_PROMPT = "busy"
OVER_QUOTA_CAUSE = "USER_BUSY"


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether to run the flow; when not, the effects that turn the caller away."""

    allowed: bool
    effects: tuple[Effect, ...] = ()
    warnings: tuple[StepWarning, ...] = ()


def admit_call(
    calls_in_progress: int,
    max_concurrent_calls: int | None,
    *,
    context: CallContext,
    flow_id: str,
    now: datetime,
    prompts: PromptCatalog,
    busy_prompt: str = BUSY_PROMPT,
) -> Admission:
    """Admit the call unless the tenant already has `max_concurrent_calls` in progress
    (not counting this one; None means no quota). Over quota the caller hears the tenant's
    busy prompt (the busy tone when it has none) and is hung up with USER_BUSY — never
    silence. FreeSWITCH plays it as early media, so the call is not answered."""
    if max_concurrent_calls is None or calls_in_progress < max_concurrent_calls:
        return Admission(allowed=True)
    warnings: tuple[StepWarning, ...] = ()
    path = prompts.path_for(busy_prompt, context.language)
    if path is None:
        item = PlaybackItem("tone:busy", (TONES["busy"],))
        warnings = (
            StepWarning("prompt-missing", None, f"prompt {busy_prompt} missing; played busy tone"),
        )
    else:
        item = PlaybackItem(f"prompt:{busy_prompt}", (path,))
    completed = IvrCompleted(
        call_id=context.call_id,
        flow_id=flow_id,
        flow_version=context.flow_version,
        exit_reason="over_quota",
        last_node=None,
        hangup_cause=OVER_QUOTA_CAUSE,
        nodes_visited=0,
        completed_at=now,
    )
    effects = (Play((item,), context.language), Hangup(OVER_QUOTA_CAUSE), EmitEvent(completed))
    return Admission(allowed=False, effects=effects, warnings=warnings)
