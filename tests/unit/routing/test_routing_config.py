"""Queue configuration validation and its JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard_common.errors import ValidationFailed
from switchboard_routing.domain import (
    Announcements,
    OverflowCondition,
    OverflowRule,
    OverflowTarget,
    PriorityRule,
    QueueConfig,
    SkillRelaxationStep,
    SkillRequirement,
    Strategy,
    TargetKind,
    parse_queue_config,
    queue_config_to_dict,
)

VOICEMAIL = OverflowTarget(TargetKind.VOICEMAIL)


def full_config() -> QueueConfig:
    return QueueConfig(
        queue_id="sales",
        name="Sales",
        strategy=Strategy.SKILLS_BASED,
        priority=3,
        required_skills=(SkillRequirement("french", 5),),
        skill_relaxation=(SkillRelaxationStep(30, 2), SkillRelaxationStep(60, 4)),
        priority_rules=(PriorityRule(boost=5, caller_number_prefix="+3312"),),
        max_wait_seconds=600,
        max_length=50,
        exit_target=VOICEMAIL,
        wrap_up_seconds=15,
        announcements=Announcements(interval_seconds=45, first_after_seconds=10),
        music_on_hold="local_stream://moh",
        overflow_rules=(
            OverflowRule(
                OverflowCondition.AFTER_WAIT, OverflowTarget(TargetKind.QUEUE, "support"), 120
            ),
            OverflowRule(
                OverflowCondition.NO_AGENTS_LOGGED_IN,
                OverflowTarget(TargetKind.EXTERNAL, "+33123456789"),
            ),
        ),
        top_down_order=("a1", "a2"),
    )


def test_config_survives_a_json_round_trip() -> None:
    config = full_config()
    document = json.loads(json.dumps(queue_config_to_dict(config)))
    assert document["strategy"] == "skills-based"
    assert parse_queue_config(document) == config


def test_parse_rejects_an_unknown_strategy_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_queue_config({"queue_id": "q", "strategy": "cheapest-agent"})
    assert caught.value.error_id == "unknown-strategy"
    assert caught.value.details["field"] == "strategy"


def test_parse_names_nested_fields() -> None:
    document: dict[str, Any] = queue_config_to_dict(full_config())
    document["overflow_rules"][1]["target"]["kind"] = "pigeon"
    with pytest.raises(ValidationFailed) as caught:
        parse_queue_config(document)
    assert caught.value.details["field"] == "overflow_rules[1].target.kind"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"wrap_up_seconds": -1}, "wrap_up_seconds"),
        ({"max_wait_seconds": -5}, "max_wait_seconds"),
        ({"max_wait_seconds": 0}, "max_wait_seconds"),
        ({"ring_timeout_seconds": 0}, "ring_timeout_seconds"),
        ({"service_level_seconds": -20}, "service_level_seconds"),
        ({"sticky_fallback_seconds": -1}, "sticky_fallback_seconds"),
        ({"aging_seconds": 0}, "aging_seconds"),
        ({"max_length": 0}, "max_length"),
        ({"queue_id": ""}, "queue_id"),
        ({"announcements": Announcements(interval_seconds=-3)}, "announcements.interval_seconds"),
        ({"required_skills": (SkillRequirement("fr", 0),)}, "required_skills[0].min_proficiency"),
        (
            {"required_skills": (SkillRequirement("fr"), SkillRequirement("fr"))},
            "required_skills[1].skill",
        ),
        (
            {"skill_relaxation": (SkillRelaxationStep(60, 2), SkillRelaxationStep(30, 3))},
            "skill_relaxation[1].after_seconds",
        ),
        (
            {"skill_relaxation": (SkillRelaxationStep(30, 2), SkillRelaxationStep(60, 2))},
            "skill_relaxation[1].proficiency_drop",
        ),
        ({"priority_rules": (PriorityRule(boost=3),)}, "priority_rules[0]"),
        ({"top_down_order": ("a", "b", "a")}, "top_down_order"),
        ({"sticky_fallback_strategy": Strategy.STICKY}, "sticky_fallback_strategy"),
        (
            {"exit_target": OverflowTarget(TargetKind.EXTERNAL, "not a number")},
            "exit_target.destination",
        ),
        (
            {"overflow_rules": (OverflowRule(OverflowCondition.AFTER_WAIT, VOICEMAIL),)},
            "overflow_rules[0].threshold_seconds",
        ),
        (
            {"overflow_rules": (OverflowRule(OverflowCondition.AFTER_WAIT, VOICEMAIL, -1),)},
            "overflow_rules[0].threshold_seconds",
        ),
        (
            {
                "overflow_rules": (
                    OverflowRule(OverflowCondition.NO_AGENTS_LOGGED_IN, VOICEMAIL, 5),
                )
            },
            "overflow_rules[0].threshold_seconds",
        ),
        (
            {
                "overflow_rules": (
                    OverflowRule(
                        OverflowCondition.AFTER_WAIT, OverflowTarget(TargetKind.QUEUE), 10
                    ),
                )
            },
            "overflow_rules[0].target.destination",
        ),
    ],
)
def test_invalid_settings_name_the_field(changes: dict[str, Any], field: str) -> None:
    arguments: dict[str, Any] = {"queue_id": "sales", **changes}
    with pytest.raises(ValidationFailed) as caught:
        QueueConfig(**arguments)
    assert caught.value.details["field"] == field
    assert caught.value.error_id == "invalid-queue-config"


def test_overflow_to_itself_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        QueueConfig(
            queue_id="sales",
            overflow_rules=(
                OverflowRule(
                    OverflowCondition.AFTER_WAIT, OverflowTarget(TargetKind.QUEUE, "sales"), 60
                ),
            ),
        )
    assert caught.value.error_id == "overflow-to-self"
    assert caught.value.details["field"] == "overflow_rules[0].target.destination"


def test_exit_target_to_itself_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        QueueConfig(queue_id="sales", exit_target=OverflowTarget(TargetKind.QUEUE, "sales"))
    assert caught.value.error_id == "overflow-to-self"
