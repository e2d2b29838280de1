"""Flow parsing and validation: every problem names the node and the field at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml

import switchboard_ivr
from switchboard_common.errors import ValidationFailed
from switchboard_ivr.domain import (
    INVALID_FLOW,
    check_flow,
    flow_json_schema,
    load_flow_document,
    parse_flow,
    render_flow_schema,
    validate_flow,
)
from switchboard_ivr.domain.demo import DEMO_PROMPTS, demo_flow, demo_flow_text

PROMPTS = frozenset({"welcome", "menu", "bye"})


def doc(*nodes: dict[str, Any], start: str | None = None) -> dict[str, Any]:
    return {"id": "f1", "start": start or nodes[0]["id"], "nodes": list(nodes)}


def problems(document: dict[str, Any] | str, prompts: frozenset[str] | None = PROMPTS) -> list[Any]:
    with pytest.raises(ValidationFailed) as caught:
        check_flow(document, prompts)
    error = caught.value
    assert error.error_id == INVALID_FLOW
    assert error.to_body()["details"]["problems"]
    return list(error.details["problems"])


def has(found: list[Any], node: str | None, field: str | None, text: str = "") -> bool:
    return any(p["node"] == node and p["field"] == field and text in p["problem"] for p in found)


HANGUP = {"id": "bye", "kind": "hangup"}


def test_a_valid_flow_passes() -> None:
    flow = check_flow(
        doc({"id": "a", "kind": "answer", "next": "m"}, MENU_OK, HANGUP),
        PROMPTS,
    )
    assert flow.node("m") is not None
    assert flow.prompt_ids() == {"menu"}


MENU_OK = {"id": "m", "kind": "menu", "prompt": "menu", "options": {"1": "bye"}, "default": "bye"}


def test_unreachable_node_is_named() -> None:
    found = problems(doc({"id": "a", "kind": "answer", "next": "bye"}, HANGUP, MENU_OK))
    assert has(found, "m", "id", "unreachable")
    assert not has(found, "bye", "id")


def test_missing_target_names_node_and_option() -> None:
    menu = MENU_OK | {"options": {"1": "bye", "3": "nowhere"}}
    found = problems(doc(menu, HANGUP))
    assert has(found, "m", "options.3", "nowhere does not exist")


def test_missing_start_names_the_flow_field() -> None:
    found = problems(doc(HANGUP, start="begin"))
    assert has(found, None, "start", "begin")


def test_goto_loop_without_caller_input_is_rejected_at_the_closing_edge() -> None:
    found = problems(
        doc(
            {"id": "a", "kind": "answer", "next": "count"},
            {"id": "count", "kind": "set", "values": {"n": 1}, "next": "again"},
            {
                "id": "again",
                "kind": "branch",
                "cases": [{"when": [{"var": "n", "op": ">", "value": 5}], "target": "bye"}],
                "default": "count",
            },
            HANGUP,
        )
    )
    assert has(found, "again", "default", "loop count → again → count never waits")


def test_play_loop_is_rejected_even_with_an_exit() -> None:
    found = problems(
        doc(
            {
                "id": "hold",
                "kind": "play",
                "items": [{"type": "tone", "tone": "ring"}],
                "next": "hold",
            },
        )
    )
    assert has(found, "hold", "next", "never waits for caller input")


def test_menu_loop_without_any_exit_is_rejected() -> None:
    found = problems(
        doc(
            {"id": "m", "kind": "menu", "prompt": "menu", "options": {"1": "p"}, "default": "m"},
            {
                "id": "p",
                "kind": "play",
                "items": [{"type": "prompt", "prompt": "welcome"}],
                "next": "m",
            },
        )
    )
    assert any("no way out" in p["problem"] and p["node"] in {"m", "p"} for p in found)


def test_menu_with_retries_that_repeats_itself_is_accepted() -> None:
    repeat = MENU_OK | {"options": {"0": "m", "1": "bye"}}
    check_flow(doc(repeat, HANGUP), PROMPTS)


def test_menu_without_default_counts_as_an_exit() -> None:
    loop = {"id": "m", "kind": "menu", "prompt": "menu", "options": {"1": "p"}}
    replay = {
        "id": "p",
        "kind": "play",
        "items": [{"type": "prompt", "prompt": "welcome"}],
        "next": "m",
    }
    check_flow(doc(loop, replay), PROMPTS)


def test_unknown_prompt_names_the_item() -> None:
    play = {
        "id": "p",
        "kind": "play",
        "items": [{"type": "prompt", "prompt": "welcome"}, {"type": "prompt", "prompt": "nope"}],
        "next": "bye",
    }
    found = problems(doc(play, HANGUP))
    assert has(found, "p", "items[1].prompt", "unknown prompt nope")


def test_prompts_are_not_checked_without_a_catalog() -> None:
    play = {"id": "p", "kind": "play", "items": [{"type": "prompt", "prompt": "x"}], "next": "bye"}
    check_flow(doc(play, HANGUP), None)


def test_unknown_survey_question_prompt_is_named() -> None:
    survey = {
        "id": "s",
        "kind": "survey",
        "questions": [{"id": "q", "prompt": "how", "kind": "scale"}],
    }
    found = problems(doc(survey))
    assert has(found, "s", "questions[0].prompt", "unknown prompt how")


def test_negative_timeout_names_node_and_field() -> None:
    found = problems(doc(MENU_OK | {"timeout_ms": -1}, HANGUP))
    assert has(found, "m", "timeout_ms", "greater than or equal")


def test_bad_regex_names_node_and_field() -> None:
    collect = {
        "id": "c",
        "kind": "collect",
        "prompt": "menu",
        "variable": "account",
        "pattern": "[0-9",
        "next": "bye",
    }
    found = problems(doc(collect, HANGUP))
    assert has(found, "c", "pattern", "not a valid regular expression")


@pytest.mark.parametrize("number", ["0612345678", "+123", "+1555123456789012", "+15550100000"])
def test_bad_e164_names_node_and_field(number: str) -> None:
    found = problems(doc({"id": "t", "kind": "transfer", "number": number}))
    assert has(found, "t", "number")


def test_good_e164_is_accepted() -> None:
    check_flow(doc({"id": "t", "kind": "transfer", "number": "+442079460000"}), PROMPTS)


def test_unknown_kind_names_the_kind_field() -> None:
    found = problems(doc({"id": "x", "kind": "teleport"}))
    assert has(found, "x", "kind")


def test_unknown_field_is_named() -> None:
    found = problems(doc(HANGUP | {"colour": "red"}))
    assert has(found, "bye", "colour", "Extra inputs")


def test_duplicate_ids_are_named() -> None:
    found = problems(doc(HANGUP, {"id": "bye", "kind": "hangup", "cause": "USER_BUSY"}))
    assert has(found, "bye", "id", "duplicate")


def test_cross_field_problems_are_named() -> None:
    collect = {
        "id": "c",
        "kind": "collect",
        "prompt": "menu",
        "variable": "caller_number",
        "min_length": 6,
        "max_length": 4,
        "next": "k",
    }
    blacklist = {"id": "k", "kind": "blacklist", "action": "route", "next": "b"}
    branch = {
        "id": "b",
        "kind": "branch",
        "cases": [
            {"when": [{"var": "x", "op": "in", "value": "1"}], "target": "bye"},
            {"when": [{"var": "x", "op": "matches", "value": "(("}], "target": "bye"},
        ],
        "default": "bye",
    }
    found = problems(doc(collect, blacklist, branch, HANGUP))
    assert has(found, "c", "max_length", "smaller than min_length")
    assert has(found, "c", "variable", "cannot be assigned")
    assert has(found, "k", "route_to", "required")
    assert has(found, "b", "cases[0].when[0].value", "needs a list")
    assert has(found, "b", "cases[1].when[0].value", "regular expression")


def test_all_problems_are_reported_at_once_and_the_first_is_on_top() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_flow(doc(MENU_OK | {"prompt": "nope", "default": "gone"}, HANGUP), PROMPTS)
    error = caught.value
    assert len(error.details["problems"]) == 2
    assert error.details["node"] == "m"
    assert error.details["field"] == "default"
    assert "node m" in error.message


def test_yaml_is_accepted_and_equals_json() -> None:
    document = doc({"id": "a", "kind": "answer", "next": "m"}, MENU_OK, HANGUP)
    from_yaml = check_flow(yaml.safe_dump(document), PROMPTS)
    from_json = check_flow(json.dumps(document).encode(), PROMPTS)
    assert from_yaml == from_json


def test_a_document_that_is_neither_json_nor_yaml_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        load_flow_document("nodes: [unclosed")
    assert caught.value.error_id == INVALID_FLOW
    with pytest.raises(ValidationFailed):
        load_flow_document("- just\n- a list\n")


def test_parse_flow_alone_skips_graph_checks() -> None:
    flow = parse_flow(doc({"id": "a", "kind": "answer", "next": "nowhere"}))
    with pytest.raises(ValidationFailed):
        validate_flow(flow)


# ---------------------------------------------------------------- schema and demo


def test_published_schema_file_is_in_sync_with_the_models() -> None:
    path = Path(switchboard_ivr.__file__).parent / "flow_schema.json"
    assert path.read_text(encoding="utf-8") == render_flow_schema(), (
        "flow_schema.json is stale; regenerate it (see switchboard_ivr/domain/schema.py)"
    )


def test_schema_accepts_the_demo_and_rejects_a_negative_timeout() -> None:
    schema = flow_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    document = json.loads(demo_flow_text())
    jsonschema.validate(document, schema)
    document["nodes"][4]["timeout_ms"] = -5
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_demo_flow_validates_and_needs_its_prompts() -> None:
    flow = demo_flow()
    assert flow.prompt_ids() == DEMO_PROMPTS
    with pytest.raises(ValidationFailed):
        validate_flow(flow, DEMO_PROMPTS - {"welcome"})
