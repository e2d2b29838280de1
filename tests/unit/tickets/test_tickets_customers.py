"""Customers: E.164 phones, custom fields, patches, merging duplicates, contact history."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from switchboard_common.errors import Conflict, PreconditionFailed, ValidationFailed
from switchboard_tickets.domain import (
    CallContact,
    Customer,
    CustomerDraft,
    CustomerPatch,
    CustomFieldDefinition,
    SurveyContact,
    TicketContact,
    VipLevel,
    apply_customer_patch,
    build_customer,
    merge_customers,
    move_to_customer,
    newest_first,
    normalize_phone,
    normalize_phones,
    parse_contact,
    try_normalize_phone,
    validate_custom_fields,
)

T0 = datetime(2024, 5, 6, 9, tzinfo=UTC)

DEFINITIONS = (
    CustomFieldDefinition(key="contract", type="string", max_length=10),
    CustomFieldDefinition(key="seats", type="number"),
    CustomFieldDefinition(key="newsletter", type="bool"),
    CustomFieldDefinition(key="renewal", type="date"),
    CustomFieldDefinition(key="plan", type="enum", choices=("free", "pro", "enterprise")),
    CustomFieldDefinition(key="region", type="string", required=True),
)


# -- phone numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+33 1 42 68 53 00", None, "+33142685300"),
        ("01 42 68 53 00", "FR", "+33142685300"),
        ("(212) 555-0100", "US", "+12125550100"),
        ("+1-212-555-0100", "FR", "+12125550100"),
        ("0044 20 7946 0958", "FR", "+442079460958"),
    ],
)
def test_phone_numbers_normalise_to_e164(raw: str, region: str | None, expected: str) -> None:
    assert normalize_phone(raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("01 42 68 53 00", None),
        ("12", "FR"),
        ("+33 1 42", None),
        ("not a number", "FR"),
        ("", "FR"),
    ],
)
def test_bad_phone_numbers_are_refused(raw: str, region: str | None) -> None:
    with pytest.raises(ValidationFailed) as caught:
        normalize_phone(raw, default_region=region)
    assert caught.value.error_id == "invalid-phone-number"
    assert try_normalize_phone(raw, default_region=region) is None


def test_bad_phone_in_a_list_is_named_by_index_and_duplicates_go() -> None:
    assert normalize_phones(["+33142685300", "01 42 68 53 00"], default_region="FR") == (
        "+33142685300",
    )
    with pytest.raises(ValidationFailed) as caught:
        normalize_phones(["+33142685300", "+33142685301", "999"], default_region="FR")
    assert caught.value.details["field"] == "phones[2]"


# -- custom fields -----------------------------------------------------------------------------


def test_valid_custom_fields_are_normalised() -> None:
    values = validate_custom_fields(
        {
            "contract": "C-1",
            "seats": 12,
            "newsletter": False,
            "renewal": date(2025, 1, 31),
            "plan": "pro",
            "region": "emea",
        },
        DEFINITIONS,
    )
    assert values == {
        "contract": "C-1",
        "seats": 12,
        "newsletter": False,
        "renewal": "2025-01-31",
        "plan": "pro",
        "region": "emea",
    }
    assert (
        validate_custom_fields({"renewal": "2025-01-31", "region": "x"}, DEFINITIONS)["renewal"]
        == "2025-01-31"
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("contract", 12),
        ("contract", "much too long a contract"),
        ("seats", "12"),
        ("seats", True),
        ("seats", float("nan")),
        ("newsletter", "yes"),
        ("newsletter", 1),
        ("renewal", "31/01/2025"),
        ("renewal", datetime(2025, 1, 31, tzinfo=UTC)),
        ("plan", "gold"),
        ("plan", 1),
    ],
)
def test_invalid_custom_field_values_name_the_field(key: str, value: Any) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_custom_fields({key: value, "region": "emea"}, DEFINITIONS)
    assert caught.value.details["field"] == f"custom_fields.{key}"
    assert caught.value.error_id == "invalid-custom-field"


def test_unknown_and_missing_required_custom_fields() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_custom_fields({"colour": "red", "region": "x"}, DEFINITIONS)
    assert caught.value.error_id == "unknown-custom-field"
    assert caught.value.details["field"] == "custom_fields.colour"
    with pytest.raises(ValidationFailed) as caught:
        validate_custom_fields({"seats": 1}, DEFINITIONS)
    assert caught.value.details["field"] == "custom_fields.region"
    assert validate_custom_fields({"seats": 1}, DEFINITIONS, partial=True) == {"seats": 1}


def test_field_definitions_are_checked() -> None:
    with pytest.raises(ValueError, match="needs choices"):
        CustomFieldDefinition(key="plan", type="enum")
    with pytest.raises(ValueError, match="only enum"):
        CustomFieldDefinition(key="plan", type="string", choices=("a",))
    with pytest.raises(ValueError):
        CustomFieldDefinition(key="Bad Key", type="string")


# -- building and patching -----------------------------------------------------------------------


def customer(
    customer_id: str,
    *,
    created: datetime = T0,
    tenant: str = "acme",
    **fields: Any,
) -> Customer:
    return Customer(
        id=customer_id, tenant_id=tenant, created_at=created, updated_at=created, **fields
    )


def test_build_customer_normalises_everything() -> None:
    draft = CustomerDraft(
        name="  Ada Lovelace ",
        phones=("01 42 68 53 00", "+33142685300"),
        emails=("Ada@Example.COM",),
        tags=("VIP", "vip", "b2b"),
        vip_level=VipLevel.GOLD,
        owner_agent_id="agent-1",
        custom_fields={"region": "emea", "seats": 3},
    )
    built = build_customer(
        draft,
        customer_id="c-1",
        tenant_id="acme",
        at=T0,
        field_definitions=DEFINITIONS,
        default_region="FR",
    )
    assert built.name == "Ada Lovelace"
    assert built.phones == ("+33142685300",)
    assert built.emails == ("ada@example.com",)
    assert built.tags == ("vip", "b2b")
    assert built.vip_level is VipLevel.GOLD
    assert built.custom_fields == {"region": "emea", "seats": 3}


def test_build_customer_names_the_bad_phone_and_email() -> None:
    with pytest.raises(ValidationFailed) as caught:
        build_customer(
            CustomerDraft(phones=("+33142685300", "abc")),
            customer_id="c",
            tenant_id="acme",
            at=T0,
        )
    assert caught.value.details["field"] == "phones[1]"
    with pytest.raises(ValidationFailed) as caught:
        build_customer(CustomerDraft(emails=("nope",)), customer_id="c", tenant_id="a", at=T0)
    assert caught.value.details["field"] == "emails[0]"


def test_patch_merges_custom_fields_and_bumps_version() -> None:
    original = customer("c-1", custom_fields={"region": "emea", "seats": 3}, owner_agent_id="a1")
    patched = apply_customer_patch(
        original,
        CustomerPatch(custom_fields={"seats": 5, "plan": "pro"}, vip_level=VipLevel.SILVER),
        at=T0 + timedelta(hours=1),
        field_definitions=DEFINITIONS,
    )
    assert patched.custom_fields == {"region": "emea", "seats": 5, "plan": "pro"}
    assert patched.vip_level is VipLevel.SILVER
    assert patched.owner_agent_id == "a1"
    assert patched.version == original.version + 1
    cleared = apply_customer_patch(
        patched,
        CustomerPatch(custom_fields={"plan": None}, clear_owner=True),
        at=T0 + timedelta(hours=2),
        field_definitions=DEFINITIONS,
    )
    assert "plan" not in cleared.custom_fields and cleared.owner_agent_id is None
    with pytest.raises(ValidationFailed):
        apply_customer_patch(
            patched,
            CustomerPatch(custom_fields={"region": None}),
            at=T0,
            field_definitions=DEFINITIONS,
        )


# -- merging -------------------------------------------------------------------------------------


def test_merge_keeps_the_older_id_whatever_the_argument_order() -> None:
    older = customer("c-old", created=T0, phones=("+33142685300",), tags=("vip",))
    newer = customer(
        "c-new",
        created=T0 + timedelta(days=3),
        phones=("+33142685301", "+33142685300"),
        emails=("a@example.com",),
        tags=("b2b", "vip"),
    )
    for first, second in ((older, newer), (newer, older)):
        result = merge_customers(first, second, at=T0 + timedelta(days=5))
        assert result.survivor.id == "c-old"
        assert result.report.survivor_id == "c-old"
        assert result.report.merged_id == "c-new"
        assert result.survivor.phones == ("+33142685300", "+33142685301")
        assert result.survivor.emails == ("a@example.com",)
        assert result.survivor.tags == ("vip", "b2b")
        assert result.report.phones_added == ("+33142685301",)
        assert result.report.tags_added == ("b2b",)
        assert result.survivor.version == older.version + 1


def test_merge_takes_name_owner_and_higher_vip_level_when_useful() -> None:
    older = customer("c-1", vip_level=VipLevel.SILVER)
    newer = customer(
        "c-2",
        created=T0 + timedelta(1),
        name="Ada",
        owner_agent_id="agent-7",
        vip_level=VipLevel.PLATINUM,
    )
    result = merge_customers(older, newer, at=T0 + timedelta(2))
    assert (result.survivor.name, result.survivor.owner_agent_id) == ("Ada", "agent-7")
    assert result.survivor.vip_level is VipLevel.PLATINUM
    assert result.report.name_taken and result.report.owner_agent_taken
    assert result.report.vip_level_raised
    kept = merge_customers(
        customer("c-1", name="Ada L.", owner_agent_id="agent-1", vip_level=VipLevel.GOLD),
        newer.model_copy(update={"vip_level": VipLevel.NONE}),
        at=T0 + timedelta(2),
    )
    assert (kept.survivor.name, kept.survivor.owner_agent_id) == ("Ada L.", "agent-1")
    assert kept.survivor.vip_level is VipLevel.GOLD
    assert not (kept.report.name_taken or kept.report.owner_agent_taken)


def merge_pair() -> tuple[Customer, Customer]:
    older = customer("c-1", custom_fields={"plan": "pro", "seats": 3, "region": "emea"})
    newer = customer(
        "c-2",
        created=T0 + timedelta(1),
        custom_fields={"plan": "enterprise", "seats": 3, "renewal": "2025-01-31"},
    )
    return older, newer


def test_merge_custom_fields_keep_survivor_by_default() -> None:
    older, newer = merge_pair()
    result = merge_customers(newer, older, at=T0 + timedelta(2))
    assert result.survivor.custom_fields == {
        "plan": "pro",
        "seats": 3,
        "region": "emea",
        "renewal": "2025-01-31",
    }
    assert result.report.custom_fields_added == ("renewal",)
    assert result.report.custom_fields_kept == ("plan",)
    assert result.report.custom_fields_overwritten == ()


def test_merge_custom_fields_prefer_merged() -> None:
    older, newer = merge_pair()
    result = merge_customers(older, newer, at=T0 + timedelta(2), conflict_policy="prefer_merged")
    assert result.survivor.custom_fields["plan"] == "enterprise"
    assert result.report.custom_fields_overwritten == ("plan",)


def test_merge_custom_fields_fail_policy_and_explicit_resolutions() -> None:
    older, newer = merge_pair()
    with pytest.raises(Conflict) as caught:
        merge_customers(older, newer, at=T0 + timedelta(2), conflict_policy="fail")
    assert caught.value.error_id == "custom-field-conflict"
    assert caught.value.details["keys"] == ["plan"]
    resolved = merge_customers(
        older,
        newer,
        at=T0 + timedelta(2),
        conflict_policy="fail",
        resolutions={"plan": "merged"},
    )
    assert resolved.survivor.custom_fields["plan"] == "enterprise"
    with pytest.raises(ValidationFailed) as unknown:
        merge_customers(older, newer, at=T0, resolutions={"colour": "merged"})
    assert unknown.value.details["field"] == "resolutions"


def test_merge_refuses_other_tenants_and_itself() -> None:
    with pytest.raises(PreconditionFailed) as caught:
        merge_customers(customer("c-1"), customer("c-2", tenant="other"), at=T0)
    assert caught.value.error_id == "cross-tenant-merge"
    with pytest.raises(ValidationFailed):
        merge_customers(customer("c-1"), customer("c-1"), at=T0)


# -- contact history -----------------------------------------------------------------------------


def test_contact_history_entries_parse_by_kind() -> None:
    call = parse_contact(
        {
            "kind": "call",
            "id": "h-1",
            "tenant_id": "acme",
            "customer_id": "c-1",
            "at": "2024-05-06T09:00:00+02:00",
            "call_id": "call-1",
            "queue_id": "support",
            "agent_id": "agent-1",
            "duration": 185.5,
            "disposition": "solved",
            "recording_id": "rec-1",
        }
    )
    assert isinstance(call, CallContact)
    assert call.duration == timedelta(seconds=185.5)
    assert call.at == datetime(2024, 5, 6, 7, tzinfo=UTC)
    survey = parse_contact(
        {
            "kind": "survey",
            "id": "h-2",
            "tenant_id": "acme",
            "customer_id": "c-1",
            "at": "2024-05-06T10:00:00Z",
            "survey_id": "csat",
            "score": 9,
        }
    )
    assert isinstance(survey, SurveyContact)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"kind": "fax"}, "kind"),
        ({"survey_id": "s"}, "kind"),
        ({"kind": "survey", "survey_id": "s", "score": 11}, "score"),
        ({"kind": "call", "call_id": "x", "duration": -1}, "duration"),
        ({"kind": "call", "call_id": "x", "at": "2024-05-06T09:00:00"}, "at"),
        ({"kind": "call"}, "call_id"),
        ({"kind": "ticket", "ticket_id": "t", "ticket_number": "T-1", "event": "x"}, "event"),
    ],
)
def test_bad_contact_history_entries(data: dict[str, Any], field: str) -> None:
    base = {"id": "h", "tenant_id": "acme", "customer_id": "c", "at": "2024-05-06T09:00:00Z"}
    with pytest.raises(ValidationFailed) as caught:
        parse_contact({**base, **data})
    assert caught.value.details["field"] == field


def test_history_order_and_move_after_merge() -> None:
    entries: list[CallContact | SurveyContact | TicketContact] = [
        TicketContact(
            id="h-1",
            tenant_id="a",
            customer_id="c-2",
            at=T0,
            ticket_id="t",
            ticket_number="ACME-000001",
            event="created",
        ),
        CallContact(
            id="h-2", tenant_id="a", customer_id="c-1", at=T0 + timedelta(hours=1), call_id="call-1"
        ),
        SurveyContact(id="h-3", tenant_id="a", customer_id="c-2", at=T0, survey_id="s"),
    ]
    assert [entry.id for entry in newest_first(entries)] == ["h-2", "h-3", "h-1"]
    moved = move_to_customer(entries, from_customer_id="c-2", to_customer_id="c-1")
    assert {entry.customer_id for entry in moved} == {"c-1"}
    assert moved[1] is entries[1]
