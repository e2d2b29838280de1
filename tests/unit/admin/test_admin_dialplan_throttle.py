"""Dialplan decisions, their XML, and login throttling."""

from xml.etree import ElementTree

import pytest

from switchboard_admin.domain.dialplan import NumberRoute, decide
from switchboard_admin.domain.throttle import LoginThrottle, SlidingWindowThrottle, ThrottlePolicy
from switchboard_admin.services import DirectoryDomain, DirectoryUser
from switchboard_admin.xml_curl import dialplan_xml, directory_xml, not_found_xml, parse_form

ROUTE = NumberRoute(
    tenant_id="t-1",
    tenant_status="active",
    number="+33123456789",
    target_kind="queue",
    target_id="sales",
    timezone="Europe/Paris",
    max_concurrent_calls=7,
)


def _actions(xml: str) -> list[tuple[str, str]]:
    root = ElementTree.fromstring(xml)
    return [(a.get("application", ""), a.get("data", "")) for a in root.iter("action")]


def test_known_number_sets_tenant_and_number_then_parks() -> None:
    decision = decide("+33123456789", ROUTE)
    xml = dialplan_xml(decision, "public")
    root = ElementTree.fromstring(xml)
    assert root.tag == "document" and root.get("type") == "freeswitch/xml"
    section = root.find("section")
    assert section is not None and section.get("name") == "dialplan"
    context = root.find("section/context")
    assert context is not None and context.get("name") == "public"
    condition = root.find("section/context/extension/condition")
    assert condition is not None
    assert condition.get("field") == "destination_number"
    assert condition.get("expression") == r"^\+33123456789$"
    actions = _actions(xml)
    assert actions[0] == ("set", "sb_tenant=t-1")
    assert actions[1] == ("set", "sb_number=+33123456789")
    assert ("limit", "hash switchboard_calls t-1 7 !USER_BUSY") in actions
    assert actions[-1] == ("park", "")


def test_unknown_number_is_refused_as_unallocated() -> None:
    actions = _actions(dialplan_xml(decide("+15550000000", None), "public"))
    assert ("respond", "404 Not Found") in actions
    assert actions[-1] == ("hangup", "UNALLOCATED_NUMBER")
    assert not any(app == "park" for app, _ in actions)


@pytest.mark.parametrize("announcement", ["", "ivr/ivr-not_available.wav"])
def test_suspended_tenant_is_rejected_after_optional_announcement(announcement: str) -> None:
    route = NumberRoute(
        tenant_id="t-1",
        tenant_status="suspended",
        number="+33123456789",
        target_kind="queue",
        target_id="sales",
        timezone="UTC",
        max_concurrent_calls=1,
    )
    decision = decide("33123456789", route, suspended_announcement=announcement)
    actions = _actions(dialplan_xml(decision, "public"))
    assert actions[-1] == ("hangup", "CALL_REJECTED")
    playbacks = [data for app, data in actions if app == "playback"]
    assert playbacks == ([announcement] if announcement else [])
    assert not any(data.startswith("sb_tenant=") for _, data in actions)


def test_regex_metacharacters_in_the_destination_are_escaped() -> None:
    decision = decide("1.*", None)
    root = ElementTree.fromstring(dialplan_xml(decision, "public"))
    condition = root.find("section/context/extension/condition")
    assert condition is not None and condition.get("expression") == r"^1\.\*$"


def test_xml_escapes_attribute_values() -> None:
    domain = DirectoryDomain(
        domain="acme.example.com",
        tenant_id="t-1",
        users=(
            DirectoryUser(
                extension="1001", user_id="u", display_name='A "B" <C> & D', a1_hash="0" * 32
            ),
        ),
    )
    xml = directory_xml([domain])
    root = ElementTree.fromstring(xml)
    user = root.find("section/domain/groups/group/users/user")
    assert user is not None and user.get("id") == "1001"
    a1 = user.find("params/param")
    assert a1 is not None and (a1.get("name"), a1.get("value")) == ("a1-hash", "0" * 32)
    names = {v.get("name"): v.get("value") for v in user.iter("variable")}
    assert names["effective_caller_id_name"] == 'A "B" <C> & D'


def test_not_found_document_and_form_parsing() -> None:
    root = ElementTree.fromstring(not_found_xml())
    result = root.find("section/result")
    assert result is not None and result.get("status") == "not found"
    fields = parse_form(b"section=dialplan&Caller-Destination-Number=%2B331&empty=")
    assert fields == {"section": "dialplan", "Caller-Destination-Number": "+331", "empty": ""}


def test_sliding_window_allows_free_failures_then_backs_off_exponentially() -> None:
    throttle = SlidingWindowThrottle(ThrottlePolicy(window_s=100, free_failures=3, base_delay_s=1))
    for second in range(3):
        throttle.record_failure("u", float(second))
        assert throttle.retry_after("u", float(second)) == 0
    throttle.record_failure("u", 3.0)
    assert throttle.retry_after("u", 3.0) == 1.0
    throttle.record_failure("u", 4.0)
    assert throttle.retry_after("u", 4.0) == 2.0
    throttle.record_failure("u", 6.0)
    assert throttle.retry_after("u", 6.0) == 4.0
    assert throttle.retry_after("u", 9.0) == 1.0
    assert throttle.retry_after("u", 200.0) == 0
    assert throttle.failures("u", 200.0) == 0


def test_delay_is_capped() -> None:
    policy = ThrottlePolicy(free_failures=1, base_delay_s=1, max_delay_s=30)
    assert policy.delay_after(1) == 0
    assert policy.delay_after(100) == 30


def test_login_throttle_counts_user_and_address_separately() -> None:
    throttle = LoginThrottle(
        ThrottlePolicy(window_s=60, free_failures=2), ThrottlePolicy(window_s=60, free_failures=3)
    )
    for user in ("a", "b", "c"):
        throttle.failed(user, "10.0.0.1", 0.0)
    assert throttle.retry_after("d", "10.0.0.1", 0.0) == 0
    throttle.failed("d", "10.0.0.1", 0.0)
    assert throttle.retry_after("e", "10.0.0.1", 0.0) > 0
    assert throttle.retry_after("e", "10.0.0.2", 0.0) == 0
    throttle.failed("a", "10.0.0.9", 0.0)
    throttle.failed("a", "10.0.0.9", 0.0)
    assert throttle.retry_after("a", "10.0.0.8", 0.0) > 0
    throttle.succeeded("a")
    assert throttle.retry_after("a", "10.0.0.8", 0.0) == 0


def test_tracked_keys_are_bounded() -> None:
    throttle = SlidingWindowThrottle(ThrottlePolicy(max_tracked_keys=10))
    for index in range(50):
        throttle.record_failure(f"k{index}", 0.0)
    assert throttle.failures("k49", 0.0) == 1
    assert sum(throttle.failures(f"k{i}", 0.0) for i in range(50)) <= 10
