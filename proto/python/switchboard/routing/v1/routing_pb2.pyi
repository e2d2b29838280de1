import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExplanationSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EXPLANATION_SOURCE_UNSPECIFIED: _ClassVar[ExplanationSource]
    EXPLANATION_SOURCE_OFFER: _ClassVar[ExplanationSource]
    EXPLANATION_SOURCE_LIVE: _ClassVar[ExplanationSource]
EXPLANATION_SOURCE_UNSPECIFIED: ExplanationSource
EXPLANATION_SOURCE_OFFER: ExplanationSource
EXPLANATION_SOURCE_LIVE: ExplanationSource

class GetQueueStatusRequest(_message.Message):
    __slots__ = ("tenant_id", "queue_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    queue_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., queue_id: _Optional[str] = ...) -> None: ...

class GetQueueStatusResponse(_message.Message):
    __slots__ = ("status",)
    STATUS_FIELD_NUMBER: _ClassVar[int]
    status: QueueStatus
    def __init__(self, status: _Optional[_Union[QueueStatus, _Mapping]] = ...) -> None: ...

class QueueStatus(_message.Message):
    __slots__ = ("queue_id", "strategy", "waiting", "ringing", "longest_wait_s", "agents_by_state", "logged_in_agents", "available_agents", "estimated_wait_s", "average_handle_s", "answered", "answered_within_service_level", "abandoned", "overflowed", "service_level", "as_of", "epoch")
    class AgentsByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    RINGING_FIELD_NUMBER: _ClassVar[int]
    LONGEST_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    AGENTS_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    LOGGED_IN_AGENTS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_AGENTS_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_WAIT_S_FIELD_NUMBER: _ClassVar[int]
    AVERAGE_HANDLE_S_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_WITHIN_SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ABANDONED_FIELD_NUMBER: _ClassVar[int]
    OVERFLOWED_FIELD_NUMBER: _ClassVar[int]
    SERVICE_LEVEL_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    queue_id: str
    strategy: str
    waiting: _containers.RepeatedCompositeFieldContainer[WaitingCall]
    ringing: int
    longest_wait_s: float
    agents_by_state: _containers.ScalarMap[str, int]
    logged_in_agents: int
    available_agents: int
    estimated_wait_s: float
    average_handle_s: float
    answered: int
    answered_within_service_level: int
    abandoned: int
    overflowed: int
    service_level: float
    as_of: _timestamp_pb2.Timestamp
    epoch: int
    def __init__(self, queue_id: _Optional[str] = ..., strategy: _Optional[str] = ..., waiting: _Optional[_Iterable[_Union[WaitingCall, _Mapping]]] = ..., ringing: _Optional[int] = ..., longest_wait_s: _Optional[float] = ..., agents_by_state: _Optional[_Mapping[str, int]] = ..., logged_in_agents: _Optional[int] = ..., available_agents: _Optional[int] = ..., estimated_wait_s: _Optional[float] = ..., average_handle_s: _Optional[float] = ..., answered: _Optional[int] = ..., answered_within_service_level: _Optional[int] = ..., abandoned: _Optional[int] = ..., overflowed: _Optional[int] = ..., service_level: _Optional[float] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., epoch: _Optional[int] = ...) -> None: ...

class WaitingCall(_message.Message):
    __slots__ = ("call_id", "position", "waited_s", "effective_priority", "vip_level")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    VIP_LEVEL_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    position: int
    waited_s: float
    effective_priority: float
    vip_level: int
    def __init__(self, call_id: _Optional[str] = ..., position: _Optional[int] = ..., waited_s: _Optional[float] = ..., effective_priority: _Optional[float] = ..., vip_level: _Optional[int] = ...) -> None: ...

class ExplainCallRequest(_message.Message):
    __slots__ = ("tenant_id", "call_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    call_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., call_id: _Optional[str] = ...) -> None: ...

class ExplainCallResponse(_message.Message):
    __slots__ = ("source", "decision")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    source: ExplanationSource
    decision: Decision
    def __init__(self, source: _Optional[_Union[ExplanationSource, str]] = ..., decision: _Optional[_Union[Decision, _Mapping]] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "call_id", "queue_id", "strategy", "chosen_agent_ids", "candidates", "skipped", "skipped_not_listed", "unavailable_by_state", "effective_priority", "waited_s", "proficiency_relaxed_by", "note", "epoch", "decided_at")
    class UnavailableByStateEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_AGENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_NOT_LISTED_FIELD_NUMBER: _ClassVar[int]
    UNAVAILABLE_BY_STATE_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_PRIORITY_FIELD_NUMBER: _ClassVar[int]
    WAITED_S_FIELD_NUMBER: _ClassVar[int]
    PROFICIENCY_RELAXED_BY_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    call_id: str
    queue_id: str
    strategy: str
    chosen_agent_ids: _containers.RepeatedScalarFieldContainer[str]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedAgent]
    skipped_not_listed: int
    unavailable_by_state: _containers.ScalarMap[str, int]
    effective_priority: float
    waited_s: float
    proficiency_relaxed_by: int
    note: str
    epoch: int
    decided_at: _timestamp_pb2.Timestamp
    def __init__(self, decision_id: _Optional[str] = ..., call_id: _Optional[str] = ..., queue_id: _Optional[str] = ..., strategy: _Optional[str] = ..., chosen_agent_ids: _Optional[_Iterable[str]] = ..., candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedAgent, _Mapping]]] = ..., skipped_not_listed: _Optional[int] = ..., unavailable_by_state: _Optional[_Mapping[str, int]] = ..., effective_priority: _Optional[float] = ..., waited_s: _Optional[float] = ..., proficiency_relaxed_by: _Optional[int] = ..., note: _Optional[str] = ..., epoch: _Optional[int] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("agent_id", "score", "basis")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    BASIS_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    score: float
    basis: str
    def __init__(self, agent_id: _Optional[str] = ..., score: _Optional[float] = ..., basis: _Optional[str] = ...) -> None: ...

class SkippedAgent(_message.Message):
    __slots__ = ("agent_id", "reason", "detail")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    reason: str
    detail: str
    def __init__(self, agent_id: _Optional[str] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...
