"""Customers (CRM): phone numbers in E.164, custom fields, VIP level, owner, merging."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from enum import IntEnum
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard_common.errors import Conflict, PreconditionFailed, ValidationFailed
from switchboard_tickets.domain._validation import require_aware

CustomFieldType = Literal["string", "number", "bool", "date", "enum"]
CustomValue = bool | int | float | str
"""A validated custom field value; dates are kept as ISO `YYYY-MM-DD` strings."""
ConflictPolicy = Literal["keep_survivor", "prefer_merged", "fail"]
Side = Literal["survivor", "merged"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9_\-.: ]{0,49}$")


class VipLevel(IntEnum):
    NONE = 0
    SILVER = 1
    GOLD = 2
    PLATINUM = 3


# -- phone numbers -------------------------------------------------------------------------


def normalize_phone(raw: str, *, default_region: str | None = None, field: str = "phone") -> str:
    """E.164 form of a phone number (`+33142685300`); ValidationFailed naming `field` if bad.

    Numbers without a leading + need `default_region` (ISO 3166 alpha-2, e.g. "FR").
    """
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise _bad_phone(raw, field, str(exc)) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise _bad_phone(raw, field, "not a valid number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def try_normalize_phone(raw: str, *, default_region: str | None = None) -> str | None:
    """E.164 form, or None for caller ids that are not numbers ("anonymous", short codes)."""
    try:
        return normalize_phone(raw, default_region=default_region)
    except ValidationFailed:
        return None


def normalize_phones(
    raws: Iterable[str], *, default_region: str | None = None, field: str = "phones"
) -> tuple[str, ...]:
    """Each number in E.164, duplicates dropped (first kept); errors name `phones[i]`."""
    seen: dict[str, None] = {}
    for index, raw in enumerate(raws):
        seen.setdefault(
            normalize_phone(raw, default_region=default_region, field=f"{field}[{index}]")
        )
    return tuple(seen)


def _bad_phone(raw: str, field: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"{raw!r} is not a valid phone number: {reason}",
        field=field,
        error_id="invalid-phone-number",
        details={"value": raw},
    )


def normalize_emails(raws: Iterable[str], *, field: str = "emails") -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for index, raw in enumerate(raws):
        email = raw.strip().lower()
        if len(email) > 254 or not _EMAIL.match(email):
            raise ValidationFailed(
                f"{raw!r} is not an e-mail address",
                field=f"{field}[{index}]",
                error_id="invalid-email",
                details={"value": raw},
            )
        seen.setdefault(email)
    return tuple(seen)


def normalize_tags(raws: Iterable[str], *, field: str = "tags") -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for index, raw in enumerate(raws):
        tag = raw.strip().lower()
        if not _TAG.match(tag):
            raise ValidationFailed(
                f"{raw!r} is not a tag (1-50 letters, digits, _-.: )",
                field=f"{field}[{index}]",
                error_id="invalid-tag",
                details={"value": raw},
            )
        seen.setdefault(tag)
    return tuple(seen)


# -- custom fields -------------------------------------------------------------------------


class CustomFieldDefinition(BaseModel):
    """A tenant-defined customer field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(default="", max_length=200)
    type: CustomFieldType
    required: bool = False
    choices: tuple[str, ...] = Field(default=(), description="the allowed values of an enum")
    max_length: int = Field(default=1000, ge=1, le=100_000, description="for strings")

    @model_validator(mode="after")
    def _choices_only_for_enum(self) -> CustomFieldDefinition:
        if self.type == "enum" and not self.choices:
            raise ValueError("an enum field needs choices")
        if self.type != "enum" and self.choices:
            raise ValueError("only enum fields have choices")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self

    def coerce(self, value: Any, field: str) -> CustomValue:
        """The value in its stored form, or ValidationFailed naming `field`."""
        if self.type == "string" and isinstance(value, str):
            if len(value) > self.max_length:
                raise _bad_custom(field, f"longer than {self.max_length} characters", value)
            return value
        if self.type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _bad_custom(field, "not a finite number", value)
            return value
        if self.type == "bool" and isinstance(value, bool):
            return value
        if self.type == "date":
            if isinstance(value, datetime):
                raise _bad_custom(field, "a date has no time of day", value)
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, str):
                try:
                    return date.fromisoformat(value).isoformat()
                except ValueError:
                    raise _bad_custom(field, "dates read YYYY-MM-DD", value) from None
        if self.type == "enum" and isinstance(value, str):
            if value not in self.choices:
                raise _bad_custom(field, f"must be one of {', '.join(self.choices)}", value)
            return value
        raise _bad_custom(field, f"expected a {self.type}", value)


def _bad_custom(field: str, reason: str, value: Any) -> ValidationFailed:
    return ValidationFailed(
        f"{field}: {reason}",
        field=field,
        error_id="invalid-custom-field",
        details={"value": repr(value)},
    )


def validate_custom_fields(
    values: Mapping[str, Any],
    definitions: Sequence[CustomFieldDefinition],
    *,
    partial: bool = False,
) -> dict[str, CustomValue]:
    """Check values against the tenant's definitions; None removes a value.

    Unknown keys are refused; required fields must be present unless `partial` (a patch).
    Errors name `custom_fields.<key>`.
    """
    by_key = {definition.key: definition for definition in definitions}
    result: dict[str, CustomValue] = {}
    for key, value in values.items():
        field = f"custom_fields.{key}"
        definition = by_key.get(key)
        if definition is None:
            raise ValidationFailed(
                f"no custom field {key!r} is defined",
                field=field,
                error_id="unknown-custom-field",
                details={"known": sorted(by_key)},
            )
        if value is None:
            if definition.required:
                raise ValidationFailed(
                    f"{key} is required", field=field, error_id="missing-custom-field"
                )
            continue
        result[key] = definition.coerce(value, field)
    if not partial:
        for definition in definitions:
            if definition.required and definition.key not in result:
                raise ValidationFailed(
                    f"{definition.key} is required",
                    field=f"custom_fields.{definition.key}",
                    error_id="missing-custom-field",
                )
    return result


# -- the customer record -------------------------------------------------------------------


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1, max_length=64)
    tenant_id: str = Field(min_length=1, max_length=64)
    name: str = Field(default="", max_length=200)
    phones: tuple[str, ...] = Field(default=(), description="E.164")
    emails: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    vip_level: VipLevel = VipLevel.NONE
    owner_agent_id: str | None = None
    custom_fields: dict[str, CustomValue] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1, ge=1)


class CustomerDraft(BaseModel):
    """What a client sends to create a customer (raw phones, custom field values)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(default="", max_length=200)
    phones: tuple[str, ...] = Field(default=(), max_length=20)
    emails: tuple[str, ...] = Field(default=(), max_length=20)
    tags: tuple[str, ...] = Field(default=(), max_length=50)
    vip_level: VipLevel = VipLevel.NONE
    owner_agent_id: str | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


class CustomerPatch(BaseModel):
    """A partial update: fields left None are unchanged; custom fields merge key by key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    phones: tuple[str, ...] | None = Field(default=None, max_length=20)
    emails: tuple[str, ...] | None = Field(default=None, max_length=20)
    tags: tuple[str, ...] | None = Field(default=None, max_length=50)
    vip_level: VipLevel | None = None
    owner_agent_id: str | None = None
    clear_owner: bool = False
    custom_fields: dict[str, Any] | None = None


def build_customer(
    draft: CustomerDraft,
    *,
    customer_id: str,
    tenant_id: str,
    at: datetime,
    field_definitions: Sequence[CustomFieldDefinition] = (),
    default_region: str | None = None,
) -> Customer:
    require_aware(at, "at")
    return Customer(
        id=customer_id,
        tenant_id=tenant_id,
        name=draft.name.strip(),
        phones=normalize_phones(draft.phones, default_region=default_region),
        emails=normalize_emails(draft.emails),
        tags=normalize_tags(draft.tags),
        vip_level=draft.vip_level,
        owner_agent_id=draft.owner_agent_id,
        custom_fields=validate_custom_fields(draft.custom_fields, field_definitions),
        created_at=at,
        updated_at=at,
    )


def apply_customer_patch(
    customer: Customer,
    patch: CustomerPatch,
    *,
    at: datetime,
    field_definitions: Sequence[CustomFieldDefinition] = (),
    default_region: str | None = None,
) -> Customer:
    """The customer with the patch applied, validated, and its version bumped."""
    require_aware(at, "at")
    update: dict[str, Any] = {"updated_at": at, "version": customer.version + 1}
    if patch.name is not None:
        update["name"] = patch.name.strip()
    if patch.phones is not None:
        update["phones"] = normalize_phones(patch.phones, default_region=default_region)
    if patch.emails is not None:
        update["emails"] = normalize_emails(patch.emails)
    if patch.tags is not None:
        update["tags"] = normalize_tags(patch.tags)
    if patch.vip_level is not None:
        update["vip_level"] = patch.vip_level
    if patch.clear_owner:
        update["owner_agent_id"] = None
    elif patch.owner_agent_id is not None:
        update["owner_agent_id"] = patch.owner_agent_id
    if patch.custom_fields is not None:
        changes = validate_custom_fields(patch.custom_fields, field_definitions, partial=True)
        merged = {**customer.custom_fields, **changes}
        for key, value in patch.custom_fields.items():
            if value is None:
                merged.pop(key, None)
        update["custom_fields"] = merged
    return customer.model_copy(update=update)


# -- merging duplicates --------------------------------------------------------------------


class MergeReport(BaseModel):
    """What moved from the merged record into the survivor."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    survivor_id: str
    merged_id: str
    phones_added: tuple[str, ...] = ()
    emails_added: tuple[str, ...] = ()
    tags_added: tuple[str, ...] = ()
    custom_fields_added: tuple[str, ...] = ()
    custom_fields_overwritten: tuple[str, ...] = ()
    custom_fields_kept: tuple[str, ...] = Field(
        default=(), description="conflicting keys where the survivor's value stayed"
    )
    name_taken: bool = False
    owner_agent_taken: bool = False
    vip_level_raised: bool = False


class MergeResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    survivor: Customer
    report: MergeReport


def merge_customers(
    first: Customer,
    second: Customer,
    *,
    at: datetime,
    conflict_policy: ConflictPolicy = "keep_survivor",
    resolutions: Mapping[str, Side] | None = None,
) -> MergeResult:
    """Merge two records of one customer into the older one (the survivor keeps its id).

    Phones, e-mails and tags are united (survivor's first); the survivor's name and owner
    stay unless empty; the VIP level is the higher one. Custom fields missing on the
    survivor are taken; for a key set differently on both, `resolutions[key]` decides,
    else `conflict_policy` (`fail` raises Conflict `custom-field-conflict`). The caller
    moves tickets and contact history of `report.merged_id` to the survivor and deletes it.
    """
    require_aware(at, "at")
    if first.tenant_id != second.tenant_id:
        raise PreconditionFailed(
            "customers of different tenants cannot be merged",
            error_id="cross-tenant-merge",
            details={"ids": [first.id, second.id]},
        )
    if first.id == second.id:
        raise ValidationFailed(
            "a customer cannot be merged with itself",
            field="id",
            error_id="merge-with-itself",
            details={"id": first.id},
        )
    survivor, merged = sorted((first, second), key=lambda c: (c.created_at, c.id))
    chosen = dict(resolutions or {})
    unknown = sorted(set(chosen) - set(survivor.custom_fields) - set(merged.custom_fields))
    if unknown:
        raise ValidationFailed(
            "resolutions name fields neither record has",
            field="resolutions",
            details={"keys": unknown},
        )

    fields = dict(survivor.custom_fields)
    added: list[str] = []
    overwritten: list[str] = []
    kept: list[str] = []
    conflicts: list[str] = []
    for key, value in merged.custom_fields.items():
        if key not in fields:
            fields[key] = value
            added.append(key)
            continue
        if fields[key] == value:
            continue
        side = chosen.get(key)
        if side is None:
            if conflict_policy == "fail":
                conflicts.append(key)
                continue
            side = "merged" if conflict_policy == "prefer_merged" else "survivor"
        if side == "merged":
            fields[key] = value
            overwritten.append(key)
        else:
            kept.append(key)
    if conflicts:
        raise Conflict(
            "the records disagree on custom fields; choose a side for each",
            error_id="custom-field-conflict",
            details={"keys": conflicts, "survivor_id": survivor.id, "merged_id": merged.id},
        )

    def extra(mine: tuple[str, ...], theirs: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(item for item in theirs if item not in mine)

    phones_added = extra(survivor.phones, merged.phones)
    emails_added = extra(survivor.emails, merged.emails)
    tags_added = extra(survivor.tags, merged.tags)
    name_taken = not survivor.name and bool(merged.name)
    owner_taken = survivor.owner_agent_id is None and merged.owner_agent_id is not None
    vip_raised = merged.vip_level > survivor.vip_level
    result = survivor.model_copy(
        update={
            "name": merged.name if name_taken else survivor.name,
            "phones": survivor.phones + phones_added,
            "emails": survivor.emails + emails_added,
            "tags": survivor.tags + tags_added,
            "vip_level": max(survivor.vip_level, merged.vip_level),
            "owner_agent_id": merged.owner_agent_id if owner_taken else survivor.owner_agent_id,
            "custom_fields": fields,
            "updated_at": at,
            "version": survivor.version + 1,
        }
    )
    report = MergeReport(
        survivor_id=survivor.id,
        merged_id=merged.id,
        phones_added=phones_added,
        emails_added=emails_added,
        tags_added=tags_added,
        custom_fields_added=tuple(added),
        custom_fields_overwritten=tuple(overwritten),
        custom_fields_kept=tuple(kept),
        name_taken=name_taken,
        owner_agent_taken=owner_taken,
        vip_level_raised=vip_raised,
    )
    return MergeResult(survivor=result, report=report)
