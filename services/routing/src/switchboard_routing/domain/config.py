"""Queue configuration: strategy, skills, priorities, timers, announcements, overflow.

`QueueConfig` validates itself on construction and raises `ValidationFailed` naming the
field at fault (`overflow_rules[1].target.destination`, ...). `parse_queue_config()` builds
one from a JSON document (REST body, `QueueConfigChanged.config`) and `queue_config_to_dict()`
is its inverse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter, ValidationError

from switchboard_common.errors import ValidationFailed

PROFICIENCY_MIN = 1
PROFICIENCY_MAX = 100
INVALID_CONFIG = "invalid-queue-config"


class Strategy(StrEnum):
    LONGEST_IDLE = "longest-idle"
    ROUND_ROBIN = "round-robin"
    FEWEST_CALLS = "fewest-calls"
    LEAST_TALK_TIME = "least-talk-time"
    RANDOM = "random"
    TOP_DOWN = "top-down"
    RING_ALL = "ring-all"
    SKILLS_BASED = "skills-based"
    STICKY = "sticky"


class OverflowCondition(StrEnum):
    AFTER_WAIT = "after_wait"
    """The call has waited `threshold_seconds` in this queue."""
    ESTIMATED_WAIT_ABOVE = "estimated_wait_above"
    """On entry, the estimated wait for the new caller exceeds `threshold_seconds`."""
    NO_AGENTS_LOGGED_IN = "no_agents_logged_in"
    """No member of the queue is logged in (checked on entry and when the last one leaves)."""


class TargetKind(StrEnum):
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class SkillRequirement:
    skill: str
    min_proficiency: int = PROFICIENCY_MIN


@dataclass(frozen=True, slots=True)
class OverflowTarget:
    """Where a call goes when it leaves a queue other than by being answered.

    `destination` is a queue id (QUEUE), a mailbox (VOICEMAIL, empty = the tenant's default),
    the number to call back (CALLBACK, empty = the caller's number) or an E.164 number (EXTERNAL).
    """

    kind: TargetKind
    destination: str = ""


@dataclass(frozen=True, slots=True)
class OverflowRule:
    condition: OverflowCondition
    target: OverflowTarget
    threshold_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """Adds `boost` to the base priority of calls matching every condition given."""

    boost: int
    min_vip_level: int | None = None
    caller_number_prefix: str | None = None
    required_skill: str | None = None


@dataclass(frozen=True, slots=True)
class SkillRelaxationStep:
    """After `after_seconds` of waiting, required proficiencies drop by `proficiency_drop`
    (never below 1: the skill itself stays required)."""

    after_seconds: float
    proficiency_drop: int


@dataclass(frozen=True, slots=True)
class Announcements:
    """Periodic announcements to waiting callers (`interval_seconds` None = none)."""

    interval_seconds: float | None = None
    first_after_seconds: float | None = None
    announce_position: bool = True
    announce_estimated_wait: bool = True


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """One queue of one tenant. Times are in seconds."""

    queue_id: str
    name: str = ""
    strategy: Strategy = Strategy.LONGEST_IDLE
    priority: int = 0
    """Queue priority: an agent serving several queues takes calls from higher ones first."""
    required_skills: tuple[SkillRequirement, ...] = ()
    skill_relaxation: tuple[SkillRelaxationStep, ...] = ()
    priority_rules: tuple[PriorityRule, ...] = ()
    vip_weight: int = 10
    """Base priority added per VIP level."""
    aging_seconds: float | None = 60.0
    """Waiting this long raises a call's effective priority by one (None = no aging)."""
    max_wait_seconds: float | None = None
    max_length: int | None = None
    exit_target: OverflowTarget | None = None
    """Target for max wait, max length and queue deletion (None = the tenant's fallback)."""
    wrap_up_seconds: float = 0.0
    ring_timeout_seconds: float = 20.0
    service_level_seconds: float = 20.0
    announcements: Announcements = Announcements()
    music_on_hold: str = ""
    overflow_rules: tuple[OverflowRule, ...] = ()
    top_down_order: tuple[str, ...] = ()
    """Agent ids in hunting order for top-down (also the round-robin cycle order)."""
    sticky_fallback_seconds: float = 30.0
    sticky_fallback_strategy: Strategy = Strategy.LONGEST_IDLE
    sticky_lookback_days: float = 30.0
    """A 'last agent' preference older than this is ignored (CRM owners never expire)."""
    default_handle_seconds: float = 180.0
    """Handle time assumed for the estimated wait until real calls have been measured."""

    def __post_init__(self) -> None:
        _validate(self)


def _fail(field: str, message: str, error_id: str = INVALID_CONFIG) -> ValidationFailed:
    return ValidationFailed(message, field=field, error_id=error_id)


def _non_negative(field: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value < 0):
        raise _fail(field, f"{field} must be a finite number >= 0")


def _positive(field: str, value: float | None) -> None:
    if value is not None and (not math.isfinite(value) or value <= 0):
        raise _fail(field, f"{field} must be a finite number > 0")


def _validate_target(field: str, target: OverflowTarget, queue_id: str) -> None:
    if target.kind is TargetKind.QUEUE:
        if not target.destination:
            raise _fail(f"{field}.destination", "a queue target needs the queue id")
        if target.destination == queue_id:
            raise _fail(
                f"{field}.destination",
                "a queue cannot overflow to itself",
                error_id="overflow-to-self",
            )
    if target.kind is TargetKind.EXTERNAL:
        digits = target.destination.removeprefix("+")
        if not digits.isdigit() or not 3 <= len(digits) <= 15:
            raise _fail(f"{field}.destination", "an external target needs a phone number")


def _validate_skills(field: str, requirements: tuple[SkillRequirement, ...]) -> None:
    seen: set[str] = set()
    for i, req in enumerate(requirements):
        if not req.skill:
            raise _fail(f"{field}[{i}].skill", "skill name is empty")
        if req.skill in seen:
            raise _fail(f"{field}[{i}].skill", f"skill {req.skill} listed twice")
        seen.add(req.skill)
        if not PROFICIENCY_MIN <= req.min_proficiency <= PROFICIENCY_MAX:
            raise _fail(
                f"{field}[{i}].min_proficiency",
                f"proficiency must be within {PROFICIENCY_MIN}..{PROFICIENCY_MAX}",
            )


def _validate(cfg: QueueConfig) -> None:
    if not cfg.queue_id:
        raise _fail("queue_id", "queue_id is empty")
    for name in ("strategy", "sticky_fallback_strategy"):
        if not isinstance(getattr(cfg, name), Strategy):
            raise _fail(
                name, f"unknown strategy {getattr(cfg, name)!r}", error_id="unknown-strategy"
            )
    if cfg.sticky_fallback_strategy is Strategy.STICKY:
        raise _fail("sticky_fallback_strategy", "sticky cannot fall back to sticky")
    _validate_skills("required_skills", cfg.required_skills)
    _non_negative("wrap_up_seconds", cfg.wrap_up_seconds)
    _non_negative("service_level_seconds", cfg.service_level_seconds)
    _non_negative("sticky_fallback_seconds", cfg.sticky_fallback_seconds)
    _non_negative("sticky_lookback_days", cfg.sticky_lookback_days)
    _non_negative("vip_weight", cfg.vip_weight)
    _positive("aging_seconds", cfg.aging_seconds)
    _positive("max_wait_seconds", cfg.max_wait_seconds)
    _positive("ring_timeout_seconds", cfg.ring_timeout_seconds)
    _positive("default_handle_seconds", cfg.default_handle_seconds)
    if cfg.max_length is not None and cfg.max_length < 1:
        raise _fail("max_length", "max_length must be >= 1")
    if cfg.exit_target is not None:
        _validate_target("exit_target", cfg.exit_target, cfg.queue_id)
    _positive("announcements.interval_seconds", cfg.announcements.interval_seconds)
    _non_negative("announcements.first_after_seconds", cfg.announcements.first_after_seconds)
    last_after, last_drop = -1.0, 0
    for i, step in enumerate(cfg.skill_relaxation):
        field = f"skill_relaxation[{i}]"
        _non_negative(f"{field}.after_seconds", step.after_seconds)
        if step.after_seconds <= last_after:
            raise _fail(f"{field}.after_seconds", "relaxation steps must be in increasing time")
        if step.proficiency_drop <= last_drop:
            raise _fail(f"{field}.proficiency_drop", "each step must relax more than the last")
        last_after, last_drop = step.after_seconds, step.proficiency_drop
    for i, rule in enumerate(cfg.priority_rules):
        field = f"priority_rules[{i}]"
        if rule.min_vip_level is None and not rule.caller_number_prefix and not rule.required_skill:
            raise _fail(field, "a priority rule needs at least one condition")
        if rule.min_vip_level is not None and rule.min_vip_level < 0:
            raise _fail(f"{field}.min_vip_level", "min_vip_level must be >= 0")
    for i, over in enumerate(cfg.overflow_rules):
        field = f"overflow_rules[{i}]"
        if over.condition is OverflowCondition.NO_AGENTS_LOGGED_IN:
            if over.threshold_seconds is not None:
                raise _fail(f"{field}.threshold_seconds", "this condition takes no threshold")
        elif over.threshold_seconds is None:
            raise _fail(f"{field}.threshold_seconds", f"{over.condition} needs a threshold")
        else:
            _non_negative(f"{field}.threshold_seconds", over.threshold_seconds)
        _validate_target(f"{field}.target", over.target, cfg.queue_id)
    if len(set(cfg.top_down_order)) != len(cfg.top_down_order):
        raise _fail("top_down_order", "an agent is listed twice")


_ADAPTER: TypeAdapter[QueueConfig] = TypeAdapter(QueueConfig)


def parse_queue_config(data: Mapping[str, Any]) -> QueueConfig:
    """Build a QueueConfig from a JSON document; ValidationFailed names the field at fault."""
    try:
        return _ADAPTER.validate_python(dict(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_context=False)[0]
        field = _field_path(first["loc"])
        error_id = "unknown-strategy" if field.endswith("strategy") else INVALID_CONFIG
        raise ValidationFailed(
            f"{field}: {first['msg']}",
            field=field,
            error_id=error_id,
            details={"errors": exc.errors(include_url=False, include_context=False)},
        ) from exc


def queue_config_to_dict(cfg: QueueConfig) -> dict[str, Any]:
    """The JSON document of a queue config (what `parse_queue_config` reads back)."""
    result: dict[str, Any] = _ADAPTER.dump_python(cfg, mode="json")
    return result


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "config"
