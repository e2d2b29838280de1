"""Request validation of the tickets API: storable text, SLA policy bounds, attachments."""

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from switchboard_common.errors import ValidationFailed
from switchboard_tickets.schemas import (
    AttachmentCreate,
    CustomerCreate,
    SlaPolicyUpdate,
    TicketCreate,
    TicketSettingsUpdate,
    check_storable,
    normalize_text_query,
)

CALENDAR = {"timezone": "Europe/Paris", "weekly": {"mon": ["09:00-17:00"]}}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"name": "a\x00b"}, "name"),
        ({"tags": ["ok", "\ud800"]}, "tags[1]"),
        ({"custom_fields": {"plan": {"deep": ["x\x00"]}}}, "custom_fields.plan.deep[0]"),
    ],
)
def test_unstorable_text_is_refused_naming_the_field(value: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_storable(value)
    assert info.value.error_id == "invalid-text"
    assert info.value.details["field"] == field


def test_request_models_check_text_before_anything_else() -> None:
    with pytest.raises(ValidationFailed) as info:
        CustomerCreate.model_validate({"name": "x", "company": "\x00"})
    assert info.value.details["field"] == "company"
    assert CustomerCreate.model_validate({"name": "Zoë 🙂"}).name == "Zoë 🙂"


def test_blank_subjects_are_refused() -> None:
    with pytest.raises(ValidationError):
        TicketCreate.model_validate({"subject": "   "})


def test_a_customer_draft_keeps_the_client_fields() -> None:
    body = CustomerCreate.model_validate(
        {"name": "Ada", "company": "AE", "lifecycle": "lead", "phones": ["+33142685300"]}
    )
    draft = body.draft()
    assert draft.name == "Ada"
    assert draft.phones == ("+33142685300",)


def _sla(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "version": 0,
        "calendar": CALENDAR,
        "rules": [{"target": {"response": "PT1H", "resolution": "PT8H"}}],
    }
    body.update(changes)
    return body


def test_a_reasonable_sla_policy_is_accepted() -> None:
    policy = SlaPolicyUpdate.model_validate(_sla()).policy()
    assert policy.rules[0].target.response == timedelta(hours=1)


@pytest.mark.parametrize(
    ("changes", "error_id", "field"),
    [
        (
            {"rules": [{"target": {"response": "P91D", "resolution": "P91D"}}]},
            "sla-target-too-long",
            "rules[0].target.response",
        ),
        (
            {"calendar": {"timezone": "UTC", "weekly": {"mon": ["09:00-09:30"]}}},
            "calendar-too-closed",
            "calendar.weekly",
        ),
        (
            {"calendar": {**CALENDAR, "holidays": [{"first_day": "9000-01-01"}]}},
            "holiday-out-of-range",
            "calendar.holidays[0]",
        ),
        (
            {
                "calendar": {
                    **CALENDAR,
                    "holidays": [{"first_day": "2025-01-01", "last_day": "2027-01-01"}],
                }
            },
            "holiday-too-long",
            "calendar.holidays[0]",
        ),
        (
            {"escalation": {"levels": [{"level": 1, "notify": "assignee", "after_due": "P40D"}]}},
            "escalation-too-late",
            "escalation.levels[0].after_due",
        ),
    ],
)
def test_sla_policies_that_could_not_be_computed_are_refused(
    changes: dict[str, Any], error_id: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as info:
        SlaPolicyUpdate.model_validate(_sla(**changes))
    assert info.value.error_id == error_id
    assert info.value.details["field"] == field


def test_duplicate_rules_are_a_validation_error() -> None:
    rule = {"target": {"response": "PT1H", "resolution": "PT8H"}}
    with pytest.raises(ValidationFailed) as info:
        SlaPolicyUpdate.model_validate(_sla(rules=[rule, rule])).policy()
    assert info.value.details["field"] == "rules"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "recording"}, "recording_id"),
        ({"kind": "recording", "recording_id": "r", "url": "https://x.org"}, "url"),
        ({"kind": "link"}, "url"),
        ({"kind": "link", "url": "javascript:alert(1)"}, "url"),
        ({"kind": "link", "url": "https://x.org", "recording_id": "r"}, "recording_id"),
    ],
)
def test_attachments_are_a_recording_or_a_web_link(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        AttachmentCreate.model_validate(body)
    assert info.value.details["field"] == field


def test_settings_know_the_regions_of_phonenumbers() -> None:
    assert TicketSettingsUpdate.model_validate({"version": 0, "default_region": "FR"})
    with pytest.raises(ValidationError):
        TicketSettingsUpdate.model_validate({"version": 0, "default_region": "XX"})
    with pytest.raises(ValidationError):
        TicketSettingsUpdate.model_validate({"version": 0, "reopen_window": "P400D"})


def test_search_text_keeps_words_only() -> None:
    assert normalize_text_query("Invoice #42: can't PAY!") == ["invoice", "42", "can", "t", "pay"]
    assert normalize_text_query("'; DROP TABLE --") == ["drop", "table"]
    assert normalize_text_query("!!") == []
