from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class BridgeOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BRIDGE_OUTCOME_UNSPECIFIED: _ClassVar[BridgeOutcome]
    BRIDGE_OUTCOME_ANSWERED: _ClassVar[BridgeOutcome]
    BRIDGE_OUTCOME_NO_ANSWER: _ClassVar[BridgeOutcome]
    BRIDGE_OUTCOME_BUSY: _ClassVar[BridgeOutcome]
    BRIDGE_OUTCOME_FAILED: _ClassVar[BridgeOutcome]
    BRIDGE_OUTCOME_CALLER_GONE: _ClassVar[BridgeOutcome]

class EavesdropMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EAVESDROP_MODE_UNSPECIFIED: _ClassVar[EavesdropMode]
    EAVESDROP_MODE_LISTEN: _ClassVar[EavesdropMode]
    EAVESDROP_MODE_WHISPER: _ClassVar[EavesdropMode]
    EAVESDROP_MODE_BARGE: _ClassVar[EavesdropMode]
BRIDGE_OUTCOME_UNSPECIFIED: BridgeOutcome
BRIDGE_OUTCOME_ANSWERED: BridgeOutcome
BRIDGE_OUTCOME_NO_ANSWER: BridgeOutcome
BRIDGE_OUTCOME_BUSY: BridgeOutcome
BRIDGE_OUTCOME_FAILED: BridgeOutcome
BRIDGE_OUTCOME_CALLER_GONE: BridgeOutcome
EAVESDROP_MODE_UNSPECIFIED: EavesdropMode
EAVESDROP_MODE_LISTEN: EavesdropMode
EAVESDROP_MODE_WHISPER: EavesdropMode
EAVESDROP_MODE_BARGE: EavesdropMode

class CallRef(_message.Message):
    __slots__ = ("tenant_id", "call_id")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    call_id: str
    def __init__(self, tenant_id: _Optional[str] = ..., call_id: _Optional[str] = ...) -> None: ...

class CommandResult(_message.Message):
    __slots__ = ("call_id", "detail")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    detail: str
    def __init__(self, call_id: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class HangupRequest(_message.Message):
    __slots__ = ("call", "cause")
    CALL_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    cause: str
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., cause: _Optional[str] = ...) -> None: ...

class PlaybackRequest(_message.Message):
    __slots__ = ("call", "items", "wait")
    CALL_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    items: _containers.RepeatedScalarFieldContainer[str]
    wait: bool
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., items: _Optional[_Iterable[str]] = ..., wait: _Optional[bool] = ...) -> None: ...

class PlaybackResult(_message.Message):
    __slots__ = ("call_id", "completed", "reason")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    completed: bool
    reason: str
    def __init__(self, call_id: _Optional[str] = ..., completed: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class PlayAndGetDigitsRequest(_message.Message):
    __slots__ = ("call", "min_digits", "max_digits", "tries", "timeout_ms", "terminators", "prompt", "invalid_prompt", "regex", "digit_timeout_ms")
    CALL_FIELD_NUMBER: _ClassVar[int]
    MIN_DIGITS_FIELD_NUMBER: _ClassVar[int]
    MAX_DIGITS_FIELD_NUMBER: _ClassVar[int]
    TRIES_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    TERMINATORS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    INVALID_PROMPT_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    DIGIT_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    min_digits: int
    max_digits: int
    tries: int
    timeout_ms: int
    terminators: str
    prompt: str
    invalid_prompt: str
    regex: str
    digit_timeout_ms: int
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., min_digits: _Optional[int] = ..., max_digits: _Optional[int] = ..., tries: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., terminators: _Optional[str] = ..., prompt: _Optional[str] = ..., invalid_prompt: _Optional[str] = ..., regex: _Optional[str] = ..., digit_timeout_ms: _Optional[int] = ...) -> None: ...

class DigitsResult(_message.Message):
    __slots__ = ("call_id", "digits", "timed_out")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    DIGITS_FIELD_NUMBER: _ClassVar[int]
    TIMED_OUT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    digits: str
    timed_out: bool
    def __init__(self, call_id: _Optional[str] = ..., digits: _Optional[str] = ..., timed_out: _Optional[bool] = ...) -> None: ...

class BridgeRequest(_message.Message):
    __slots__ = ("call", "endpoint", "ring_timeout_s", "variables", "caller_id_name", "caller_id_number")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CALL_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    RING_TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_NAME_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    endpoint: str
    ring_timeout_s: int
    variables: _containers.ScalarMap[str, str]
    caller_id_name: str
    caller_id_number: str
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., endpoint: _Optional[str] = ..., ring_timeout_s: _Optional[int] = ..., variables: _Optional[_Mapping[str, str]] = ..., caller_id_name: _Optional[str] = ..., caller_id_number: _Optional[str] = ...) -> None: ...

class BridgeResult(_message.Message):
    __slots__ = ("call_id", "outcome", "agent_call_id", "cause", "answered_endpoint")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    AGENT_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    outcome: BridgeOutcome
    agent_call_id: str
    cause: str
    answered_endpoint: str
    def __init__(self, call_id: _Optional[str] = ..., outcome: _Optional[_Union[BridgeOutcome, str]] = ..., agent_call_id: _Optional[str] = ..., cause: _Optional[str] = ..., answered_endpoint: _Optional[str] = ...) -> None: ...

class OriginateRequest(_message.Message):
    __slots__ = ("tenant_id", "endpoint", "application", "timeout_s", "variables", "caller_id_name", "caller_id_number")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    APPLICATION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_NAME_FIELD_NUMBER: _ClassVar[int]
    CALLER_ID_NUMBER_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    endpoint: str
    application: str
    timeout_s: int
    variables: _containers.ScalarMap[str, str]
    caller_id_name: str
    caller_id_number: str
    def __init__(self, tenant_id: _Optional[str] = ..., endpoint: _Optional[str] = ..., application: _Optional[str] = ..., timeout_s: _Optional[int] = ..., variables: _Optional[_Mapping[str, str]] = ..., caller_id_name: _Optional[str] = ..., caller_id_number: _Optional[str] = ...) -> None: ...

class OriginateResult(_message.Message):
    __slots__ = ("call_id", "answered", "cause")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_FIELD_NUMBER: _ClassVar[int]
    CAUSE_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    answered: bool
    cause: str
    def __init__(self, call_id: _Optional[str] = ..., answered: _Optional[bool] = ..., cause: _Optional[str] = ...) -> None: ...

class TransferRequest(_message.Message):
    __slots__ = ("call", "destination", "bleg", "dialplan", "context")
    CALL_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    BLEG_FIELD_NUMBER: _ClassVar[int]
    DIALPLAN_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    destination: str
    bleg: bool
    dialplan: str
    context: str
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., destination: _Optional[str] = ..., bleg: _Optional[bool] = ..., dialplan: _Optional[str] = ..., context: _Optional[str] = ...) -> None: ...

class RecordRequest(_message.Message):
    __slots__ = ("call", "path")
    CALL_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    path: str
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., path: _Optional[str] = ...) -> None: ...

class EavesdropRequest(_message.Message):
    __slots__ = ("call", "supervisor_endpoint", "mode", "timeout_s")
    CALL_FIELD_NUMBER: _ClassVar[int]
    SUPERVISOR_ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_S_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    supervisor_endpoint: str
    mode: EavesdropMode
    timeout_s: int
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., supervisor_endpoint: _Optional[str] = ..., mode: _Optional[_Union[EavesdropMode, str]] = ..., timeout_s: _Optional[int] = ...) -> None: ...

class ConferenceRequest(_message.Message):
    __slots__ = ("tenant_id", "call_ids", "conference_name")
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    CALL_IDS_FIELD_NUMBER: _ClassVar[int]
    CONFERENCE_NAME_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    call_ids: _containers.RepeatedScalarFieldContainer[str]
    conference_name: str
    def __init__(self, tenant_id: _Optional[str] = ..., call_ids: _Optional[_Iterable[str]] = ..., conference_name: _Optional[str] = ...) -> None: ...

class SendDtmfRequest(_message.Message):
    __slots__ = ("call", "digits")
    CALL_FIELD_NUMBER: _ClassVar[int]
    DIGITS_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    digits: str
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., digits: _Optional[str] = ...) -> None: ...

class CallInfo(_message.Message):
    __slots__ = ("call_id", "tenant_id", "node_id", "state", "caller_number", "destination_number", "other_call_id", "held", "recording", "created_at_us", "answered_at_us")
    CALL_ID_FIELD_NUMBER: _ClassVar[int]
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CALLER_NUMBER_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_NUMBER_FIELD_NUMBER: _ClassVar[int]
    OTHER_CALL_ID_FIELD_NUMBER: _ClassVar[int]
    HELD_FIELD_NUMBER: _ClassVar[int]
    RECORDING_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_US_FIELD_NUMBER: _ClassVar[int]
    ANSWERED_AT_US_FIELD_NUMBER: _ClassVar[int]
    call_id: str
    tenant_id: str
    node_id: str
    state: str
    caller_number: str
    destination_number: str
    other_call_id: str
    held: bool
    recording: bool
    created_at_us: int
    answered_at_us: int
    def __init__(self, call_id: _Optional[str] = ..., tenant_id: _Optional[str] = ..., node_id: _Optional[str] = ..., state: _Optional[str] = ..., caller_number: _Optional[str] = ..., destination_number: _Optional[str] = ..., other_call_id: _Optional[str] = ..., held: _Optional[bool] = ..., recording: _Optional[bool] = ..., created_at_us: _Optional[int] = ..., answered_at_us: _Optional[int] = ...) -> None: ...

class ListCallsRequest(_message.Message):
    __slots__ = ("tenant_id",)
    TENANT_ID_FIELD_NUMBER: _ClassVar[int]
    tenant_id: str
    def __init__(self, tenant_id: _Optional[str] = ...) -> None: ...

class ListCallsResponse(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[CallInfo]
    def __init__(self, calls: _Optional[_Iterable[_Union[CallInfo, _Mapping]]] = ...) -> None: ...

class SetVariablesRequest(_message.Message):
    __slots__ = ("call", "variables")
    class VariablesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    CALL_FIELD_NUMBER: _ClassVar[int]
    VARIABLES_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    variables: _containers.ScalarMap[str, str]
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., variables: _Optional[_Mapping[str, str]] = ...) -> None: ...

class MuteRequest(_message.Message):
    __slots__ = ("call", "muted")
    CALL_FIELD_NUMBER: _ClassVar[int]
    MUTED_FIELD_NUMBER: _ClassVar[int]
    call: CallRef
    muted: bool
    def __init__(self, call: _Optional[_Union[CallRef, _Mapping]] = ..., muted: _Optional[bool] = ...) -> None: ...
