"""The flow tester on the demo flow: the paths a real caller takes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from switchboard_common.events.ivr import (
    IvrCompleted,
    SurveyCompleted,
    VoicemailLeft,
)
from switchboard_ivr.domain import (
    HANG_UP,
    CallContext,
    DigitsCollected,
    Enqueue,
    HttpResponse,
    Interpreter,
    RecordingDone,
    SimulationResult,
    StaticBlacklist,
    TemplatePromptCatalog,
    demo_calendar,
    demo_flow,
    parse_flow,
    simulate,
)

OPEN = datetime(2024, 3, 5, 10, 0, tzinfo=UTC)  # Tuesday
CLOSED = datetime(2024, 3, 5, 20, 0, tzinfo=UTC)
CALLER = "+33142685300"


def run(dtmf: list[str | None], at: datetime = OPEN, **options: Any) -> SimulationResult:
    crm = options.pop("crm", {})
    return simulate(demo_flow(), CALLER, at, dtmf, {}, demo_calendar(), crm, **options)


def completions(result: SimulationResult) -> list[IvrCompleted]:
    return [e for e in result.events if isinstance(e, IvrCompleted)]


def enqueued(result: SimulationResult) -> Enqueue:
    (enqueue,) = [e for e in result.effects if isinstance(e, Enqueue)]
    return enqueue


def test_press_1_queues_to_sales_then_survey() -> None:
    result = run(["1", "4", "1"])
    assert result.path == [
        "answer",
        "screen",
        "greeting",
        "hours",
        "main_menu",
        "orders",
        "queue_sales",
        "survey",
        "goodbye",
    ]
    assert enqueued(result).queue_id == "sales"
    assert enqueued(result).priority == 5
    ivr, post_call = completions(result)
    assert (ivr.exit_reason, ivr.queue_id, ivr.last_node) == ("queued", "sales", "queue_sales")
    assert (post_call.phase, post_call.exit_reason) == ("post_call", "hangup")
    assert result.prompts[:2] == ["prompt:welcome", "prompt:main_menu"]


def test_vip_callers_pressing_1_get_priority() -> None:
    result = run(["1"], crm={"vip_level": 2})
    assert "queue_sales_vip" in result.path
    assert enqueued(result).priority == 9
    assert enqueued(result).skills == ("sales", "vip")


def test_press_2_queues_to_support() -> None:
    result = run(["2"], agent_hangs_up_first=False)
    assert result.path[-1] == "queue_support"
    assert enqueued(result).queue_id == "support"
    assert result.outcome is not None and result.outcome.exit_reason == "queued"
    assert len(completions(result)) == 1


def test_invalid_then_silence_then_9_goes_to_voicemail() -> None:
    result = run(["7", None, "9"])
    assert result.path[-1] == "voicemail"
    assert result.prompts[1:6] == [
        "prompt:main_menu",
        "prompt:invalid_choice",
        "prompt:main_menu",
        "prompt:no_input",
        "prompt:main_menu",
    ]
    assert any(isinstance(e, VoicemailLeft) for e in result.events)


def test_after_hours_goes_to_voicemail_without_a_menu() -> None:
    result = run([], at=CLOSED)
    assert result.path == ["answer", "screen", "greeting", "hours", "after_hours", "voicemail"]
    (left,) = [e for e in result.events if isinstance(e, VoicemailLeft)]
    assert (left.mailbox, left.open_ticket, left.notify) == (
        "general",
        True,
        ["support@example.com"],
    )
    assert result.outcome is not None and result.outcome.exit_reason == "voicemail"
    assert result.prompts[-1] == "prompt:voicemail_greeting"


def test_hang_up_mid_menu_completes_with_caller_hung_up_at_the_menu() -> None:
    for script in ([], [HANG_UP, "1"]):
        result = run(list(script))
        assert result.path[-1] == "main_menu"
        (completed,) = completions(result)
        assert (completed.exit_reason, completed.last_node) == ("caller_hung_up", "main_menu")
        assert result.outcome is not None and result.outcome.last_node == "main_menu"


def test_survey_after_the_agent_hangs_up() -> None:
    result = run(["2", "5", "2"])
    (survey,) = [e for e in result.events if isinstance(e, SurveyCompleted)]
    assert survey.survey_id == "survey"
    assert (survey.queue_id, survey.agent_id, survey.complete) == (
        "support",
        "simulated-agent",
        True,
    )
    assert [(a.question_id, a.value) for a in survey.answers] == [
        ("satisfaction", 5),
        ("resolved", False),
    ]
    assert "prompt:survey_thanks" in result.prompts
    assert result.outcome is not None
    assert (result.outcome.phase, result.outcome.last_node) == ("post_call", "goodbye")


def test_blacklisted_caller_is_refused() -> None:
    result = run(["1"], blacklist=StaticBlacklist({"simulation": frozenset({CALLER})}))
    assert result.path == ["answer", "screen"]
    assert result.outcome is not None and result.outcome.exit_reason == "rejected"


def test_missing_prompt_is_reported_as_a_warning() -> None:
    catalog = TemplatePromptCatalog(known={"main_menu"})
    result = run([HANG_UP], prompts=catalog)
    assert [(w.code, w.node) for w in result.warnings] == [
        ("prompt-missing", "greeting"),
        ("prompt-missing", "main_menu"),
    ]
    assert "welcome" in result.warnings[0].detail
    assert "invalid_choice" in result.warnings[1].detail


def test_simulation_agrees_with_driving_the_interpreter_by_hand() -> None:
    flow = demo_flow()
    interpreter = Interpreter(
        calendar=demo_calendar(), blacklist=StaticBlacklist(), prompts=TemplatePromptCatalog()
    )
    context = CallContext(
        tenant_id="simulation",
        call_id="simulation",
        caller_number=CALLER,
        webhook_url="https://webhook.invalid/ivr",
        webhook_secret="simulation",
    )
    step = interpreter.start(flow, context, OPEN)
    events = list(step.events)
    for event in (DigitsCollected("9"), RecordingDone("simulation/voicemail.wav", 15_000)):
        step = interpreter.resume(step.state, event)
        events += step.events
    result = run(["9"])
    assert list(step.state.path) == result.path
    assert events == result.events


def test_http_stubs_are_used_per_node() -> None:
    flow = parse_flow(
        {
            "id": "lookup",
            "start": "h",
            "nodes": [
                {
                    "id": "h",
                    "kind": "http",
                    "map": {"tier": "tier"},
                    "next": "b",
                    "fallback": "sorry",
                },
                {
                    "id": "b",
                    "kind": "branch",
                    "default": "sorry",
                    "cases": [
                        {"when": [{"var": "tier", "op": "==", "value": "gold"}], "target": "gold"}
                    ],
                },
                {"id": "gold", "kind": "transfer", "number": "+442079460000"},
                {"id": "sorry", "kind": "hangup"},
            ],
        }
    )
    gold = simulate(flow, CALLER, OPEN, [], {"h": {"tier": "gold"}}, demo_calendar(), {})
    assert gold.path == ["h", "b", "gold"]
    broken = simulate(flow, CALLER, OPEN, [], {"h": HttpResponse(502, "")}, demo_calendar(), {})
    assert broken.path == ["h", "sorry"]
    unstubbed = simulate(flow, CALLER, OPEN, [], {}, demo_calendar(), {})
    assert unstubbed.path == ["h", "sorry"]


def test_result_is_json_ready() -> None:
    data = run(["1", "3", "1"]).to_dict()
    assert data["outcome"]["exit_reason"] == "hangup"
    assert data["events"][0]["type"] == "switchboard.ivr.started.v1"
    assert isinstance(data["events"][0]["data"]["started_at"], str)
