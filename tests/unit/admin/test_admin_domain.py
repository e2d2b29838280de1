"""Pure rules of the admin service: permissions, passwords, numbers, tenants, quotas."""

import pytest

from switchboard_admin.domain import permissions as perms
from switchboard_admin.domain.credentials import (
    Passwords,
    api_secret_matches,
    new_api_key,
    parse_api_key,
    sip_a1_hash,
)
from switchboard_admin.domain.numbers import dialled_to_e164, normalize_e164
from switchboard_admin.domain.passwords import check_password, check_sip_password
from switchboard_admin.domain.tenants import (
    check_quota,
    check_sip_domain,
    check_slug,
    check_timezone,
    next_status,
)
from switchboard_common.errors import (
    Forbidden,
    PreconditionFailed,
    QuotaExceeded,
    ValidationFailed,
)


def test_permissions_are_named_resource_colon_action() -> None:
    for name in perms.PERMISSIONS:
        resource, _, action = name.partition(":")
        assert resource and action and ":" not in action, name
    for required in (
        "users:write",
        "numbers:read",
        "queues:write",
        "tickets:write",
        "calls:control",
        "supervise:listen",
    ):
        assert required in perms.PERMISSIONS


def test_unknown_permission_is_named_in_the_error() -> None:
    assert perms.validate_permissions(["users:read", "users:read", "calls:control"]) == (
        "calls:control",
        "users:read",
    )
    with pytest.raises(ValidationFailed) as info:
        perms.validate_permissions(["users:read", "users:fly"])
    assert info.value.error_id == "unknown-permission"
    assert info.value.details == {"field": "permissions", "permission": "users:fly", "index": 1}


def test_builtin_roles_nest_agent_in_supervisor_in_admin() -> None:
    agent = perms.BUILTIN_ROLES[perms.AGENT_ROLE].permissions
    supervisor = perms.BUILTIN_ROLES[perms.SUPERVISOR_ROLE].permissions
    admin = perms.BUILTIN_ROLES[perms.TENANT_ADMIN_ROLE].permissions
    assert agent < supervisor < admin == frozenset(perms.PERMISSIONS)
    assert "users:write" not in agent and "supervise:listen" in supervisor
    assert all(name in perms.PERMISSIONS for name in supervisor)


def test_nobody_grants_what_they_do_not_hold() -> None:
    perms.ensure_can_grant(frozenset({"users:read", "users:write"}), ["users:read"])
    with pytest.raises(Forbidden) as info:
        perms.ensure_can_grant(frozenset({"users:write"}), ["users:write", "api_keys:write"])
    assert info.value.details == {"permission": "api_keys:write"}


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("short1A!", "shorter than"),
        ("onlylowercase", "mix three"),
        ("Password123!", "commonly used"),
        ("Alice-Secret-99", "contains the username"),
        ("aaaaaaaaaaaaaaaaaaaa", "repeats"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(password: str, problem: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        check_password(password, username="alice")
    assert info.value.error_id == "weak-password"
    assert info.value.details["field"] == "password"
    assert any(problem in text for text in info.value.details["problems"])


@pytest.mark.parametrize(
    "password", ["Correct-Horse-9", "correct horse battery staple", "Tr0ub4dor&3x"]
)
def test_strong_passwords_and_passphrases_pass(password: str) -> None:
    check_password(password, username="alice")


def test_sip_passwords_refuse_markup_and_short_values() -> None:
    check_sip_password("s1p-Secret")
    for bad in ("short", "has space1", 'quote"d12', "aaaaaaaaaa"):
        with pytest.raises(ValidationFailed):
            check_sip_password(bad)


def test_numbers_are_normalised_to_e164() -> None:
    assert normalize_e164("+33 1 23 45 67 89") == "+33123456789"
    assert normalize_e164(" +1 (202) 555-0143 ") == "+12025550143"


@pytest.mark.parametrize("raw", ["0123456789", "+1 555", "+999 123456", "hello", "+" + "1" * 50])
def test_malformed_numbers_are_422_invalid_number(raw: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        normalize_e164(raw)
    assert info.value.error_id == "invalid-number"
    assert info.value.details["field"] == "number"


def test_dialled_digits_map_to_e164_or_none() -> None:
    assert dialled_to_e164("+33123456789") == "+33123456789"
    assert dialled_to_e164("33123456789") == "+33123456789"
    for junk in ("", "abc", "+33 1 23", "12;drop", "1001"):
        assert dialled_to_e164(junk) is None


def test_slugs_domains_and_timezones() -> None:
    assert check_slug("acme-support") == "acme-support"
    for bad in ("A", "acme-", "-acme", "ac--me", "1acme", "acme_inc", "x" * 41):
        with pytest.raises(ValidationFailed):
            check_slug(bad)
    assert check_sip_domain("Acme.SIP.example.com.") == "acme.sip.example.com"
    for bad in ("localhost", "acme..com", "-a.com", "a.123", "bad_domain.com"):
        with pytest.raises(ValidationFailed) as info:
            check_sip_domain(bad)
        assert info.value.error_id == "invalid-sip-domain"
    assert check_timezone("Europe/Paris") == "Europe/Paris"
    for bad in ("Mars/Olympus", "", " UTC", "../etc/passwd", "/etc/localtime"):
        with pytest.raises(ValidationFailed) as info:
            check_timezone(bad)
        assert info.value.error_id == "unknown-timezone"


def test_tenant_lifecycle_refuses_repeated_transitions() -> None:
    assert next_status("active", "suspend") == "suspended"
    assert next_status("suspended", "resume") == "active"
    with pytest.raises(PreconditionFailed) as info:
        next_status("suspended", "suspend")
    assert info.value.error_id == "tenant-already-suspended"
    with pytest.raises(PreconditionFailed) as info:
        next_status("active", "resume")
    assert info.value.error_id == "tenant-not-suspended"


def test_quota_allows_up_to_the_limit_and_names_it_past_it() -> None:
    check_quota("max_agents", limit=10, used=9)
    with pytest.raises(QuotaExceeded) as info:
        check_quota("max_agents", limit=10, used=10)
    assert info.value.error_id == "quota-exceeded"
    assert info.value.details == {"quota": "max_agents", "limit": 10, "used": 10}


def test_api_keys_route_to_their_tenant_and_store_only_a_hash() -> None:
    tenant = "0b7a3c52-1f0e-4c38-9d59-2f6f0b4f1a11"
    fresh = new_api_key(tenant)
    parsed = parse_api_key(fresh.key)
    assert parsed is not None
    assert (parsed.tenant_id, parsed.key_id) == (tenant, fresh.key_id)
    assert parsed.secret not in fresh.secret_hash
    assert api_secret_matches(parsed.secret, fresh.secret_hash)
    assert not api_secret_matches(parsed.secret + "x", fresh.secret_hash)
    assert parse_api_key(fresh.key + "x") is None
    assert parse_api_key("sbk_t_" + "0" * 32) is None
    assert new_api_key(tenant).key != fresh.key


def test_sip_a1_hash_is_md5_of_user_domain_password() -> None:
    # echo -n 1001:acme.example.com:secret | md5sum
    assert sip_a1_hash("1001", "acme.example.com", "secret") == "8f86441503d13ce2b14d845438839c1d"


def test_password_hashes_verify_and_unknown_users_cost_the_same() -> None:
    passwords = Passwords(time_cost=1, memory_kib=1024, parallelism=1)
    stored = passwords.hash("Correct-Horse-9")
    assert stored.startswith("$argon2id$")
    assert passwords.verify(stored, "Correct-Horse-9")
    assert not passwords.verify(stored, "correct-horse-9")
    assert not passwords.verify(None, "Correct-Horse-9")
    assert not passwords.verify("not-a-hash", "x")
    assert Passwords(time_cost=2, memory_kib=1024, parallelism=1).needs_rehash(stored)
