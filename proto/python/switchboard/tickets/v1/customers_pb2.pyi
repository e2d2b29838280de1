import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VipLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VIP_LEVEL_UNSPECIFIED: _ClassVar[VipLevel]
    VIP_LEVEL_NONE: _ClassVar[VipLevel]
    VIP_LEVEL_SILVER: _ClassVar[VipLevel]
    VIP_LEVEL_GOLD: _ClassVar[VipLevel]
    VIP_LEVEL_PLATINUM: _ClassVar[VipLevel]

class Lifecycle(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LIFECYCLE_UNSPECIFIED: _ClassVar[Lifecycle]
    LIFECYCLE_LEAD: _ClassVar[Lifecycle]
    LIFECYCLE_CUSTOMER: _ClassVar[Lifecycle]

class TicketStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TICKET_STATUS_UNSPECIFIED: _ClassVar[TicketStatus]
    TICKET_STATUS_NEW: _ClassVar[TicketStatus]
    TICKET_STATUS_ASSIGNED: _ClassVar[TicketStatus]
    TICKET_STATUS_IN_PROGRESS: _ClassVar[TicketStatus]
    TICKET_STATUS_PENDING_CUSTOMER: _ClassVar[TicketStatus]
    TICKET_STATUS_RESOLVED: _ClassVar[TicketStatus]
    TICKET_STATUS_CLOSED: _ClassVar[TicketStatus]
    TICKET_STATUS_REOPENED: _ClassVar[TicketStatus]

class Priority(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRIORITY_UNSPECIFIED: _ClassVar[Priority]
    PRIORITY_P1: _ClassVar[Priority]
    PRIORITY_P2: _ClassVar[Priority]
    PRIORITY_P3: _ClassVar[Priority]
    PRIORITY_P4: _ClassVar[Priority]

class ContactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONTACT_KIND_UNSPECIFIED: _ClassVar[ContactKind]
    CONTACT_KIND_CALL: _ClassVar[ContactKind]
    CONTACT_KIND_SURVEY: _ClassVar[ContactKind]
    CONTACT_KIND_TICKET: _ClassVar[ContactKind]
VIP_LEVEL_UNSPECIFIED: VipLevel
VIP_LEVEL_NONE: VipLevel
VIP_LEVEL_SILVER: VipLevel
VIP_LEVEL_GOLD: VipLevel
VIP_LEVEL_PLATINUM: VipLevel
LIFECYCLE_UNSPECIFIED: Lifecycle
LIFECYCLE_LEAD: Lifecycle
LIFECYCLE_CUSTOMER: Lifecycle
TICKET_STATUS_UNSPECIFIED: TicketStatus
TICKET_STATUS_NEW: TicketStatus
TICKET_STATUS_ASSIGNED: TicketStatus
TICKET_STATUS_IN_PROGRESS: TicketStatus
TICKET_STATUS_PENDING_CUSTOMER: TicketStatus
TICKET_STATUS_RESOLVED: TicketStatus
TICKET_STATUS_CLOSED: TicketStatus
TICKET_STATUS_REOPENED: TicketStatus
PRIORITY_UNSPECIFIED: Priority
PRIORITY_P1: Priority
PRIORITY_P2: Priority
PRIORITY_P3: Priority
PRIORITY_P4: Priority
CONTACT_KIND_UNSPECIFIED: ContactKind
CONTACT_KIND_CALL: ContactKind
CONTACT_KIND_SURVEY: ContactKind
CONTACT_KIND_TICKET: ContactKind

class LookupByNumberRequest(_message.Message):
    __slots__ = ("tenant_id", "phone_number", "max_contacts", "max_open_tickets")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    MAX_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    MAX_OPEN_TICKETS_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    phone_number: str
    max_contacts: int
    max_open_tickets: int
    def __init__(self, tenant_id: _Optional[str] = ..., phone_number: _Optional[str] = ..., max_contacts: _Optional[int] = ..., max_open_tickets: _Optional[int] = ...) -> None: ...

class LookupByNumberResponse(_message.Message):
    __slots__ = ("found", "phone_number", "customer", "open_tickets", "recent_contacts")
    FOUND_FIELD_NUMBER: _ClassVar[int]
    PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    OPEN_TICKETS_FIELD_NUMBER: _ClassVar[int]
    RECENT_CONTACTS_FIELD_NUMBER: _ClassVar[int]
    found: bool
    phone_number: str
    customer: Customer
    open_tickets: _containers.RepeatedCompositeFieldContainer[OpenTicket]
    recent_contacts: _containers.RepeatedCompositeFieldContainer[Contact]
    def __init__(self, found: _Optional[bool] = ..., phone_number: _Optional[str] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ..., open_tickets: _Optional[_Iterable[_Union[OpenTicket, _Mapping]]] = ..., recent_contacts: _Optional[_Iterable[_Union[Contact, _Mapping]]] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("id", "name", "company", "lifecycle", "vip_level", "owner_agent_id", "tags")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    COMPANY_FIELD_NUMBER: _ClassVar[int]
    LIFECYCLE_FIELD_NUMBER: _ClassVar[int]
    VIP_LEVEL_FIELD_NUMBER: _ClassVar[int]
    OWNER_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    company: str
    lifecycle: Lifecycle
    vip_level: VipLevel
    owner_agent_id: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., company: _Optional[str] = ..., lifecycle: _Optional[_Union[Lifecycle, str]] = ..., vip_level: _Optional[_Union[VipLevel, str]] = ..., owner_agent_id: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ...) -> None: ...

class OpenTicket(_message.Message):
    __slots__ = ("id", "number", "title", "status", "priority", "due_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NUMBER_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    number: str
    title: str
    status: TicketStatus
    priority: Priority
    due_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., number: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[_Union[TicketStatus, str]] = ..., priority: _Optional[_Union[Priority, str]] = ..., due_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Contact(_message.Message):
    __slots__ = ("id", "kind", "at", "call_id", "direction", "queue_id", "agent_id", "duration_s", "disposition", "recording_id", "survey_score", "ticket_id", "ticket_number", "ticket_event")
    ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    DISPOSITION_FIELD_NUMBER: _ClassVar[int]
    RECORDING_ID_FIELD_NUMBER: _ClassVar[int]
    SURVEY_SCORE_FIELD_NUMBER: _ClassVar[int]
    TICKET_ID_FIELD_NUMBER: _ClassVar[int]
    TICKET_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TICKET_EVENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    kind: ContactKind
    at: _timestamp_pb2.Timestamp
    call_id: str
    direction: str
    queue_id: str
    agent_id: str
    duration_s: float
    disposition: str
    recording_id: str
    survey_score: int
    ticket_id: str
    ticket_number: str
    ticket_event: str
    def __init__(self, id: _Optional[str] = ..., kind: _Optional[_Union[ContactKind, str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., call_id: _Optional[str] = ..., direction: _Optional[str] = ..., queue_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., duration_s: _Optional[float] = ..., disposition: _Optional[str] = ..., recording_id: _Optional[str] = ..., survey_score: _Optional[int] = ..., ticket_id: _Optional[str] = ..., ticket_number: _Optional[str] = ..., ticket_event: _Optional[str] = ...) -> None: ...
