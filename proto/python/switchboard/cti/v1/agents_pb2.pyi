import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGENT_STATE_UNSPECIFIED: _ClassVar[AgentState]
    AGENT_STATE_LOGGED_OUT: _ClassVar[AgentState]
    AGENT_STATE_AVAILABLE: _ClassVar[AgentState]
    AGENT_STATE_RESERVED: _ClassVar[AgentState]
    AGENT_STATE_ON_CALL: _ClassVar[AgentState]
    AGENT_STATE_ON_HOLD: _ClassVar[AgentState]
    AGENT_STATE_WRAP_UP: _ClassVar[AgentState]
    AGENT_STATE_NOT_READY: _ClassVar[AgentState]
AGENT_STATE_UNSPECIFIED: AgentState
AGENT_STATE_LOGGED_OUT: AgentState
AGENT_STATE_AVAILABLE: AgentState
AGENT_STATE_RESERVED: AgentState
AGENT_STATE_ON_CALL: AgentState
AGENT_STATE_ON_HOLD: AgentState
AGENT_STATE_WRAP_UP: AgentState
AGENT_STATE_NOT_READY: AgentState

class Skill(_message.Message):
    __slots__ = ("name", "proficiency")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PROFICIENCY_FIELD_NUMBER: _ClassVar[int]
    name: str
    proficiency: int
    def __init__(self, name: _Optional[str] = ..., proficiency: _Optional[int] = ...) -> None: ...

class Agent(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "display_name", "state", "reason", "state_since", "call_id", "queue_id", "desktop_connected", "skills", "queues", "wrap_up_until")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATE_SINCE_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    DESKTOP_CONNECTED_FIELD_NUMBER: _ClassVar[int]
    SKILLS_FIELD_NUMBER: _ClassVar[int]
    QUEUES_FIELD_NUMBER: _ClassVar[int]
    WRAP_UP_UNTIL_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    display_name: str
    state: AgentState
    reason: str
    state_since: _timestamp_pb2.Timestamp
    call_id: str
    queue_id: str
    desktop_connected: bool
    skills: _containers.RepeatedCompositeFieldContainer[Skill]
    queues: _containers.RepeatedScalarFieldContainer[str]
    wrap_up_until: _timestamp_pb2.Timestamp
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., display_name: _Optional[str] = ..., state: _Optional[_Union[AgentState, str]] = ..., reason: _Optional[str] = ..., state_since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., call_id: _Optional[str] = ..., queue_id: _Optional[str] = ..., desktop_connected: _Optional[bool] = ..., skills: _Optional[_Iterable[_Union[Skill, _Mapping]]] = ..., queues: _Optional[_Iterable[str]] = ..., wrap_up_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAgentRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ...) -> None: ...

class ListAgentsRequest(_message.Message):
    __slots__ = ("tenant_id", "queue_id", "states")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    QUEUE_ID_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    queue_id: str
    states: _containers.RepeatedScalarFieldContainer[AgentState]
    def __init__(self, tenant_id: _Optional[str] = ..., queue_id: _Optional[str] = ..., states: _Optional[_Iterable[_Union[AgentState, str]]] = ...) -> None: ...

class ListAgentsResponse(_message.Message):
    __slots__ = ("agents",)
    AGENTS_FIELD_NUMBER: _ClassVar[int]
    agents: _containers.RepeatedCompositeFieldContainer[Agent]
    def __init__(self, agents: _Optional[_Iterable[_Union[Agent, _Mapping]]] = ...) -> None: ...

class SetStateRequest(_message.Message):
    __slots__ = ("tenant_id", "agent_id", "state", "reason", "actor")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    agent_id: str
    state: AgentState
    reason: str
    actor: str
    def __init__(self, tenant_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., state: _Optional[_Union[AgentState, str]] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ...) -> None: ...
