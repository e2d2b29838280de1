"""IVR flow definitions: a flow is a start node id and a list of typed nodes.

The pydantic models are the single source of the published JSON Schema (`schema.py`) and of
per-node checks that need no other node (ranges, regular expressions, E.164 numbers). Checks
across nodes (targets, reachability, loops, prompts) live in `validation.py`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Annotated, Any, Literal

import phonenumbers
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from switchboard_common.errors import ValidationFailed

INVALID_FLOW = "invalid-flow"

NodeId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]
PromptId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,127}$")]
VariableName = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,63}$")]
DottedPath = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")]
ResourceId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
MenuKey = Annotated[str, StringConstraints(pattern=r"^[0-9*#]$")]
Scalar = str | int | float | bool | None

SUBJECT_PATTERN = (
    r"^(crm(\.[A-Za-z0-9_-]+)+|time\.(hour|minute|hhmm|weekday|date|day|month)"
    r"|[a-z_][a-z0-9_]{0,63})$"
)
Subject = Annotated[str, StringConstraints(pattern=SUBJECT_PATTERN)]

BUILTIN_VARIABLES = frozenset(
    {"caller_number", "caller_name", "called_number", "call_id", "tenant_id", "flow_id"}
)
"""Names resolved from the call itself; flows may read them but not assign them."""

Language = Literal["en", "fr"]
Currency = Literal["USD", "EUR", "GBP"]
HangupCause = Literal[
    "NORMAL_CLEARING",
    "CALL_REJECTED",
    "USER_BUSY",
    "NO_ANSWER",
    "NO_ROUTE_DESTINATION",
    "UNALLOCATED_NUMBER",
    "NORMAL_TEMPORARY_FAILURE",
    "SERVICE_UNAVAILABLE",
]

E164_SHAPE = re.compile(r"^\+[1-9][0-9]{1,14}$")


def _valid_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


def is_e164(number: str) -> bool:
    """True for a dialable E.164 number (`+` and digits, valid for its country plan)."""
    if not E164_SHAPE.match(number):
        return False
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_valid_number(parsed))


def _valid_e164(value: str) -> str:
    if not is_e164(value):
        raise ValueError("not a valid E.164 number (+, country code, number: +33142685300)")
    return value


Regex = Annotated[
    str, StringConstraints(min_length=1, max_length=256), AfterValidator(_valid_regex)
]
E164 = Annotated[str, StringConstraints(pattern=E164_SHAPE.pattern), AfterValidator(_valid_e164)]
TimeoutMs = Annotated[int, Field(ge=500, le=60_000, description="milliseconds")]
Retries = Annotated[int, Field(ge=0, le=9, description="extra attempts after the first")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ---------------------------------------------------------------- playback items


class PromptItem(_Model):
    """A tenant prompt file, named by its id in the tenant's prompt catalog."""

    type: Literal["prompt"]
    prompt: PromptId


class ToneItem(_Model):
    type: Literal["tone"]
    tone: Literal["ring", "busy", "beep", "dial"]


class SilenceItem(_Model):
    type: Literal["silence"]
    duration_ms: int = Field(ge=1, le=30_000)


class SayItem(_Model):
    """Speak a value in the call's language: digits, a number, a date, a time or money.

    `value` is a literal or `${variable}` (e.g. `${balance}`, `${crm.plan_end}`).
    """

    type: Literal["say"]
    say: Literal["digits", "number", "date", "time", "money"]
    value: str | int | float
    currency: Currency = "USD"


PlayItem = Annotated[PromptItem | ToneItem | SilenceItem | SayItem, Field(discriminator="type")]


# ---------------------------------------------------------------- nodes


class _Node(_Model):
    id: NodeId
    label: str = Field(default="", max_length=200, description="free text for the flow editor")

    def targets(self) -> Iterator[tuple[str, str]]:
        """(field, target node id) for every outgoing edge that is set."""
        return iter(())

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        """(field, prompt id) for every prompt the node may play."""
        return iter(())

    @property
    def can_end_run(self) -> bool:
        """True when reaching this node can end the run (hang-up, hand-over, implicit end)."""
        return False

    @property
    def waits_for_caller(self) -> bool:
        """True when the node waits for the caller to press keys."""
        return False


def _present(*pairs: tuple[str, str | None]) -> Iterator[tuple[str, str]]:
    for field, value in pairs:
        if value is not None:
            yield field, value


class AnswerNode(_Node):
    kind: Literal["answer"]
    next: NodeId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class PlayNode(_Node):
    kind: Literal["play"]
    items: list[PlayItem] = Field(min_length=1)
    next: NodeId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        for index, item in enumerate(self.items):
            if isinstance(item, PromptItem):
                yield f"items[{index}].prompt", item.prompt


class MenuNode(_Node):
    """Play a prompt and branch on one key; retries on invalid input or silence.

    After `retries` extra attempts: `no_input` (or `default`) when the last attempt was silent,
    `default` when it was invalid; the call is hung up when neither is set.
    """

    kind: Literal["menu"]
    prompt: PromptId
    options: dict[MenuKey, NodeId] = Field(min_length=1)
    retries: Retries = 2
    timeout_ms: TimeoutMs = 5000
    invalid_prompt: PromptId | None = None
    no_input_prompt: PromptId | None = None
    default: NodeId | None = None
    no_input: NodeId | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        for key, target in self.options.items():
            yield f"options.{key}", target
        yield from _present(("default", self.default), ("no_input", self.no_input))

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        yield "prompt", self.prompt
        yield from _present(
            ("invalid_prompt", self.invalid_prompt), ("no_input_prompt", self.no_input_prompt)
        )

    @property
    def can_end_run(self) -> bool:
        return self.default is None

    @property
    def waits_for_caller(self) -> bool:
        return True


class CollectNode(_Node):
    """Collect digits into a variable; `pattern` must match the whole entry."""

    kind: Literal["collect"]
    prompt: PromptId
    variable: VariableName
    min_length: int = Field(default=1, ge=1, le=64)
    max_length: int = Field(default=16, ge=1, le=64)
    terminator: Literal["#", "*", ""] = "#"
    pattern: Regex | None = None
    timeout_ms: TimeoutMs = 5000
    digit_timeout_ms: TimeoutMs = 3000
    retries: Retries = 2
    invalid_prompt: PromptId | None = None
    next: NodeId
    failure: NodeId | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield from _present(("failure", self.failure))

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        yield "prompt", self.prompt
        yield from _present(("invalid_prompt", self.invalid_prompt))

    @property
    def can_end_run(self) -> bool:
        return self.failure is None

    @property
    def waits_for_caller(self) -> bool:
        return True


class HttpNode(_Node):
    """POST call data to the tenant's webhook (HMAC-SHA256 signed) and map the JSON answer.

    `map` sets variables from dotted paths of the answer (`customer.vip_level`, `items.0.id`).
    A failure, a timeout, a non-2xx status or an answer missing a mapped path → `fallback`.
    """

    kind: Literal["http"]
    url: Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=2048)] | None = (
        Field(default=None, description="defaults to the tenant's webhook URL")
    )
    send: list[VariableName] | None = Field(
        default=None, description="variables to send; all of them when absent"
    )
    map: dict[VariableName, DottedPath] = Field(default_factory=dict)
    timeout_ms: int = Field(default=3000, ge=100, le=10_000, description="milliseconds")
    next: NodeId
    fallback: NodeId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield "fallback", self.fallback


ConditionOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "matches", "starts_with", "exists"]


class Condition(_Model):
    """`var` is a variable, a call fact (`caller_number`), `crm.<path>` or `time.<part>`.

    `matches` searches with a regular expression (anchor it with ^ for a prefix); `<`/`>`
    compare numbers when both sides are numeric, text otherwise; `time.*` is in the tenant's
    time zone (`time.weekday` is mon..sun, `time.hhmm` is "09:30").
    """

    var: Subject
    op: ConditionOp
    value: Any = None


class BranchCase(_Model):
    when: list[Condition] = Field(min_length=1, description="all must hold")
    target: NodeId


class BranchNode(_Node):
    kind: Literal["branch"]
    cases: list[BranchCase] = Field(min_length=1)
    default: NodeId

    def targets(self) -> Iterator[tuple[str, str]]:
        for index, case in enumerate(self.cases):
            yield f"cases[{index}].target", case.target
        yield "default", self.default


class ScheduleNode(_Node):
    """Ask the tenant calendar whether it is open now; `holiday` defaults to `closed`."""

    kind: Literal["schedule"]
    calendar: ResourceId
    open: NodeId
    closed: NodeId
    holiday: NodeId | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "open", self.open
        yield "closed", self.closed
        yield from _present(("holiday", self.holiday))


class SetNode(_Node):
    """Set variables; a text value may use `${name}` placeholders."""

    kind: Literal["set"]
    values: dict[VariableName, Scalar] = Field(min_length=1)
    next: NodeId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class QueueNode(_Node):
    """Hand the call to routing. `post_call` continues the flow once the agent hangs up."""

    kind: Literal["queue"]
    queue: ResourceId
    priority: int = Field(default=5, ge=0, le=10, description="higher is served first")
    skills: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list
    )
    post_call: NodeId | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        yield from _present(("post_call", self.post_call))

    @property
    def can_end_run(self) -> bool:
        return True


class VoicemailNode(_Node):
    kind: Literal["voicemail"]
    mailbox: ResourceId
    greeting: PromptId | None = None
    max_length_s: int = Field(default=120, ge=5, le=600)
    beep: bool = True
    open_ticket: bool = False
    notify: list[Annotated[str, StringConstraints(min_length=3, max_length=254)]] = Field(
        default_factory=list, description="e-mail addresses or user ids to notify"
    )
    next: NodeId | None = Field(default=None, description="after recording; hang up if absent")

    def targets(self) -> Iterator[tuple[str, str]]:
        yield from _present(("next", self.next))

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        yield from _present(("greeting", self.greeting))

    @property
    def can_end_run(self) -> bool:
        return True


class CallbackNode(_Node):
    """Capture a number (or offer the caller's own), read it back, create a callback request.

    Entries are national numbers parsed for `country` (or full numbers with 00 / +).
    """

    kind: Literal["callback"]
    prompt: PromptId = Field(description="asks for the number, ending with #")
    confirm_prompt: PromptId = Field(description="press 1 to confirm, 2 to enter another number")
    readback_prompt: PromptId | None = Field(default=None, description="'you entered'")
    invalid_prompt: PromptId | None = None
    offer_caller_number: bool = False
    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] = "US"
    queue: ResourceId | None = None
    timeout_ms: TimeoutMs = 8000
    retries: Retries = 2
    next: NodeId
    failure: NodeId | None = None

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield from _present(("failure", self.failure))

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        yield "prompt", self.prompt
        yield "confirm_prompt", self.confirm_prompt
        yield from _present(
            ("readback_prompt", self.readback_prompt), ("invalid_prompt", self.invalid_prompt)
        )

    @property
    def can_end_run(self) -> bool:
        return self.failure is None

    @property
    def waits_for_caller(self) -> bool:
        return True


class SurveyQuestion(_Model):
    id: NodeId
    prompt: PromptId
    kind: Literal["scale", "yes_no"] = Field(description="scale: keys 1-5; yes_no: 1 yes, 2 no")


class SurveyNode(_Node):
    kind: Literal["survey"]
    intro: PromptId | None = None
    questions: list[SurveyQuestion] = Field(min_length=1, max_length=10)
    invalid_prompt: PromptId | None = None
    thanks: PromptId | None = None
    timeout_ms: TimeoutMs = 5000
    retries: Retries = 1
    next: NodeId | None = Field(default=None, description="after the survey; hang up if absent")

    def targets(self) -> Iterator[tuple[str, str]]:
        yield from _present(("next", self.next))

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        yield from _present(("intro", self.intro))
        for index, question in enumerate(self.questions):
            yield f"questions[{index}].prompt", question.prompt
        yield from _present(("invalid_prompt", self.invalid_prompt), ("thanks", self.thanks))

    @property
    def can_end_run(self) -> bool:
        return self.next is None

    @property
    def waits_for_caller(self) -> bool:
        return True


class TransferNode(_Node):
    kind: Literal["transfer"]
    number: E164
    caller_id: E164 | None = Field(default=None, description="presented number; caller's if absent")

    @property
    def can_end_run(self) -> bool:
        return True


class BlacklistNode(_Node):
    """Check the caller against the tenant blacklist: reject (hang up) or route elsewhere."""

    kind: Literal["blacklist"]
    action: Literal["reject", "route"] = "reject"
    route_to: NodeId | None = Field(default=None, description="required when action is route")
    prompt: PromptId | None = Field(default=None, description="played before rejecting")
    cause: HangupCause = "CALL_REJECTED"
    next: NodeId

    def targets(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next
        yield from _present(("route_to", self.route_to))

    def prompt_refs(self) -> Iterator[tuple[str, str]]:
        yield from _present(("prompt", self.prompt))

    @property
    def can_end_run(self) -> bool:
        return self.action == "reject"


class HangupNode(_Node):
    kind: Literal["hangup"]
    cause: HangupCause = "NORMAL_CLEARING"

    @property
    def can_end_run(self) -> bool:
        return True


Node = Annotated[
    AnswerNode
    | PlayNode
    | MenuNode
    | CollectNode
    | HttpNode
    | BranchNode
    | ScheduleNode
    | SetNode
    | QueueNode
    | VoicemailNode
    | CallbackNode
    | SurveyNode
    | TransferNode
    | BlacklistNode
    | HangupNode,
    Field(discriminator="kind"),
]
AnyNode = (
    AnswerNode
    | PlayNode
    | MenuNode
    | CollectNode
    | HttpNode
    | BranchNode
    | ScheduleNode
    | SetNode
    | QueueNode
    | VoicemailNode
    | CallbackNode
    | SurveyNode
    | TransferNode
    | BlacklistNode
    | HangupNode
)


class Flow(_Model):
    """An IVR flow definition (one version of it)."""

    model_config = ConfigDict(title="Switchboard IVR flow")

    schema_uri: str | None = Field(default=None, alias="$schema")
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    language: Language | None = Field(
        default=None, description="language of say items; the tenant's when absent"
    )
    start: NodeId
    max_steps: int = Field(
        default=250, ge=10, le=10_000, description="node visits before a run is stopped"
    )
    variables: dict[VariableName, Scalar] = Field(
        default_factory=dict, description="initial variable values"
    )
    nodes: list[Node] = Field(min_length=1)

    @cached_property
    def node_index(self) -> dict[str, AnyNode]:
        """Nodes by id (the first one when an id is duplicated, which validation reports)."""
        index: dict[str, AnyNode] = {}
        for node in self.nodes:
            index.setdefault(node.id, node)
        return index

    def node(self, node_id: str) -> AnyNode | None:
        return self.node_index.get(node_id)

    def prompt_ids(self) -> set[str]:
        """Every prompt id the flow may play (to check a tenant's catalog before publishing)."""
        return {prompt for node in self.nodes for _, prompt in node.prompt_refs()}


# ---------------------------------------------------------------- parsing


def problem(node: str | None, field: str | None, text: str) -> dict[str, str | None]:
    """One entry of the `problems` list in an invalid-flow error."""
    return {"node": node, "field": field, "problem": text}


def invalid_flow(problems: list[dict[str, str | None]]) -> ValidationFailed:
    first = problems[0]
    where = f"node {first['node']}" if first["node"] else "flow"
    message = f"invalid flow: {where}, {first['field']}: {first['problem']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more)"
    return ValidationFailed(
        message,
        error_id=INVALID_FLOW,
        field=first["field"],
        details={"node": first["node"], "problems": problems},
    )


def load_flow_document(text: str | bytes) -> dict[str, Any]:
    """Parse a flow document written in JSON or YAML into a plain mapping."""
    raw = text.decode("utf-8") if isinstance(text, bytes) else text
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise invalid_flow([problem(None, None, f"neither JSON nor YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise invalid_flow([problem(None, None, "the document must be an object")])
    return data


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text


def _pydantic_problems(
    exc: ValidationError, data: Mapping[str, Any]
) -> list[dict[str, str | None]]:
    raw_nodes = data.get("nodes")
    problems: list[dict[str, str | None]] = []
    for error in exc.errors(include_url=False, include_context=False):
        loc = tuple(error["loc"])
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            index = loc[1]
            raw = raw_nodes[index] if isinstance(raw_nodes, list) else None
            node_id = str(raw.get("id")) if isinstance(raw, dict) and "id" in raw else None
            kind = raw.get("kind") if isinstance(raw, dict) else None
            rest = loc[2:]
            if rest and rest[0] == kind:
                rest = rest[1:]
            if error["type"].startswith("union_tag"):
                rest = ("kind",)
            problems.append(
                problem(node_id or f"nodes[{index}]", _loc_to_field(rest) or None, error["msg"])
            )
        else:
            problems.append(problem(None, _loc_to_field(loc) or None, error["msg"]))
    return problems


def parse_flow(document: Mapping[str, Any] | str | bytes) -> Flow:
    """Build a Flow from a mapping or a JSON/YAML text; structural errors name node and field.

    Cross-node checks are not run here; call `validate_flow` (or `check_flow`) for those.
    """
    data = load_flow_document(document) if isinstance(document, str | bytes) else document
    try:
        return Flow.model_validate(data)
    except ValidationError as exc:
        raise invalid_flow(_pydantic_problems(exc, data)) from exc
