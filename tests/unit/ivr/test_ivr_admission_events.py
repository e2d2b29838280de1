"""The quota rule on arrival, webhook signing helpers, and the ivr event payloads."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from switchboard_common.events import Envelope, decode, registered_payloads, topics
from switchboard_common.events.ivr import (
    CallbackRequested,
    IvrCompleted,
    SurveyAnswer,
    SurveyCompleted,
)
from switchboard_ivr.domain import (
    CallContext,
    EmitEvent,
    Hangup,
    Play,
    TemplatePromptCatalog,
    admit_call,
    sign,
    verify,
)
from switchboard_ivr.domain.webhook import MISSING, dotted_get, encode_body

NOW = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)
CONTEXT = CallContext(tenant_id="t1", call_id="c1", caller_number="+33142685300", language="fr")


def test_calls_under_the_quota_are_admitted() -> None:
    catalog = TemplatePromptCatalog()
    for in_progress, quota in ((0, 1), (9, 10), (500, None)):
        admission = admit_call(
            in_progress, quota, context=CONTEXT, flow_id="main", now=NOW, prompts=catalog
        )
        assert admission.allowed
        assert admission.effects == ()


def test_over_quota_plays_busy_then_hangs_up() -> None:
    admission = admit_call(
        10, 10, context=CONTEXT, flow_id="main", now=NOW, prompts=TemplatePromptCatalog()
    )
    assert not admission.allowed
    play, hangup, emit = admission.effects
    assert isinstance(play, Play)
    assert play.items[0].files == ("prompts/fr/busy.wav",)
    assert hangup == Hangup("USER_BUSY")
    assert isinstance(emit, EmitEvent) and isinstance(emit.payload, IvrCompleted)
    assert emit.payload.exit_reason == "over_quota"


def test_over_quota_without_a_busy_prompt_plays_the_busy_tone() -> None:
    catalog = TemplatePromptCatalog(known=set())
    admission = admit_call(0, 0, context=CONTEXT, flow_id="main", now=NOW, prompts=catalog)
    play = admission.effects[0]
    assert isinstance(play, Play)
    assert play.items[0].files[0].startswith("tone_stream://")
    assert admission.warnings[0].code == "prompt-missing"


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = encode_body({"b": 1, "a": "é"})
    assert body == '{"a":"é","b":1}'.encode()
    signature = sign(body, "key")
    expected = hmac.new(b"key", body, hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    assert verify(body, "key", signature)
    assert not verify(body, "other-key", signature)


def test_dotted_paths() -> None:
    data = {"a": {"b": [{"c": 1}, {"c": None}]}}
    assert dotted_get(data, "a.b.0.c") == 1
    assert dotted_get(data, "a.b.1.c") is None
    assert dotted_get(data, "a.b.2.c") is MISSING
    assert dotted_get(data, "a.x") is MISSING
    assert dotted_get(data, "a.b.c") is MISSING


def test_ivr_payloads_are_registered_on_the_ivr_topic() -> None:
    payloads = registered_payloads()
    for event_type in (
        "switchboard.ivr.started.v1",
        "switchboard.ivr.node_entered.v1",
        "switchboard.ivr.completed.v1",
        "switchboard.survey.completed.v1",
        "switchboard.voicemail.left.v1",
        "switchboard.callback.requested.v1",
    ):
        assert payloads[event_type].TOPIC == topics.IVR


def test_payloads_round_trip_through_the_envelope() -> None:
    survey = SurveyCompleted(
        call_id="c1",
        flow_id="main",
        survey_id="survey",
        answers=[SurveyAnswer(question_id="q", kind="scale", value=4)],
        complete=True,
        completed_at=NOW,
    )
    envelope = Envelope.wrap(survey, source="ivr", tenant="t1", subject="c1")
    assert decode(envelope.encode()).payload() == survey
    callback = CallbackRequested(
        call_id="c1",
        flow_id="main",
        callback_number="+33612345678",
        caller_number="+33142685300",
        requested_at=NOW,
    )
    assert decode(Envelope.wrap(callback, source="ivr", tenant="t1").encode()).payload() == callback
