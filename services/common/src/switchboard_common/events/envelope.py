"""The one event envelope: CloudEvents 1.0, JSON, with a `tenant` extension attribute.

Every payload is a typed model (`EventPayload` subclass) that names its CloudEvents `type`
and its Kafka topic. `Envelope.wrap()` builds an event from a payload; `decode()` turns bytes
from the bus back into an envelope, and `Envelope.payload()` into the typed model.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard_common.errors import ValidationFailed

EVENT_TYPE_PATTERN = r"^switchboard\.[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*\.v[0-9]+$"


class EventPayload(BaseModel):
    """Base of every event payload. Subclasses set EVENT_TYPE and TOPIC and get registered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    EVENT_TYPE: ClassVar[str]
    TOPIC: ClassVar[str]
    DESCRIPTION: ClassVar[str] = ""


P = TypeVar("P", bound=EventPayload)

_REGISTRY: dict[str, type[EventPayload]] = {}
_CATALOG_LOADED: list[bool] = []


def register(cls: type[P]) -> type[P]:
    """Class decorator: make a payload known to decoding and to the AsyncAPI generator."""
    event_type = cls.EVENT_TYPE
    if event_type in _REGISTRY and _REGISTRY[event_type] is not cls:
        raise ValueError(f"event type {event_type} registered twice")
    _REGISTRY[event_type] = cls
    return cls


def registered_payloads() -> dict[str, type[EventPayload]]:
    """Every registered payload class by event type (imports all domain modules first)."""
    from switchboard_common.events import catalog

    catalog.load_all()
    return dict(sorted(_REGISTRY.items()))


def payload_class(event_type: str) -> type[EventPayload] | None:
    """The payload class of an event type, loading every domain's payloads on a first miss
    (a service need not import the modules of events it only passes over)."""
    cls = _REGISTRY.get(event_type)
    if cls is None and not _CATALOG_LOADED:
        from switchboard_common.events import catalog

        catalog.load_all()
        _CATALOG_LOADED.append(True)
        cls = _REGISTRY.get(event_type)
    return cls


def new_event_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Envelope(BaseModel):
    """A CloudEvents 1.0 event in structured JSON mode."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(pattern=EVENT_TYPE_PATTERN)
    time: datetime
    subject: str | None = None
    tenant: str = Field(min_length=1, max_length=64)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any]

    @classmethod
    def wrap(
        cls,
        payload: EventPayload,
        *,
        source: str,
        tenant: str,
        subject: str | None = None,
        event_id: str | None = None,
        time: datetime | None = None,
    ) -> Envelope:
        return cls(
            id=event_id or new_event_id(),
            source=source,
            type=payload.EVENT_TYPE,
            time=time or utcnow(),
            subject=subject,
            tenant=tenant,
            data=payload.model_dump(mode="json"),
        )

    @property
    def topic(self) -> str:
        cls = payload_class(self.type)
        if cls is None:
            raise ValidationFailed(f"unknown event type {self.type}", error_id="unknown-event-type")
        return cls.TOPIC

    def payload(self) -> EventPayload:
        """The typed payload; raises ValidationFailed for unknown types or bad data."""
        cls = payload_class(self.type)
        if cls is None:
            raise ValidationFailed(f"unknown event type {self.type}", error_id="unknown-event-type")
        try:
            return cls.model_validate(self.data)
        except ValidationError as exc:
            raise ValidationFailed(
                f"bad data for {self.type}",
                error_id="bad-event-data",
                details={"errors": exc.errors(include_url=False, include_context=False)},
            ) from exc

    def payload_as(self, cls: builtins.type[P]) -> P:
        if self.type != cls.EVENT_TYPE:
            raise ValidationFailed(
                f"expected {cls.EVENT_TYPE}, got {self.type}", error_id="unexpected-event-type"
            )
        return cls.model_validate(self.data)

    def encode(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json", exclude_none=True))


def decode(raw: bytes | str) -> Envelope:
    """Parse one event from the bus; raises ValidationFailed on anything malformed."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed("event is not JSON", error_id="bad-event") from exc
    if not isinstance(obj, dict):
        raise ValidationFailed("event is not a JSON object", error_id="bad-event")
    try:
        return Envelope.model_validate(obj)
    except ValidationError as exc:
        raise ValidationFailed(
            "event is not a valid envelope",
            error_id="bad-event",
            details={"errors": exc.errors(include_url=False, include_context=False)},
        ) from exc
