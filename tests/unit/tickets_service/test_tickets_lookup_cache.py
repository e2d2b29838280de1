"""The look-up cache: bounds, TTL, invalidation races, unknown numbers, change payloads."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from switchboard_tickets.domain import CallContact, Priority, TicketStatus, VipLevel
from switchboard_tickets.lookup_cache import CachedCustomer, LookupCache, estimated_size
from switchboard_tickets.repository import parse_changes
from switchboard_tickets.schemas import CustomerCard, OpenTicketSummary

AT = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def entry(
    customer_id: str, *, tickets: int = 0, contacts: int = 0, limit: int = 5
) -> CachedCustomer:
    return CachedCustomer(
        card=CustomerCard(
            id=customer_id,
            name="Ada",
            company="",
            lifecycle="customer",
            vip_level=VipLevel.NONE,
            owner_agent_id=None,
            tags=(),
        ),
        phones=frozenset({"+33142685300"}),
        open_tickets=tuple(
            OpenTicketSummary(
                id=f"t{i}",
                number=f"T-{i}",
                subject="Broken",
                status=TicketStatus.NEW,
                priority=Priority.P3,
                due_at=None,
            )
            for i in range(tickets)
        ),
        contacts=tuple(
            CallContact(
                id=f"k{i}",
                tenant_id="acme",
                customer_id=customer_id,
                at=AT,
                call_id=f"call-{i}",
                direction="inbound",
            )
            for i in range(contacts)
        ),
        open_ticket_limit=limit,
        contact_limit=limit,
    )


def cache(**bounds: float) -> tuple[LookupCache, FakeClock]:
    clock = FakeClock()
    settings = {"max_entries": 100, "max_bytes": 10**9, "ttl_s": 30.0, **bounds}
    return (
        LookupCache(
            max_entries=int(settings["max_entries"]),
            max_bytes=int(settings["max_bytes"]),
            ttl_s=settings["ttl_s"],
            monotonic=clock,
        ),
        clock,
    )


def test_least_recently_used_goes_first_when_full() -> None:
    lru, _ = cache(max_entries=2)
    for name in ("a", "b"):
        assert lru.put("acme", entry(name), epoch=lru.epoch())
    assert lru.get("acme", "a") is not None
    lru.put("acme", entry("c"), epoch=lru.epoch())
    assert lru.get("acme", "b") is None
    assert lru.get("acme", "a") is not None
    assert lru.get("acme", "c") is not None
    assert lru.evictions == 1


def test_the_memory_budget_bounds_the_cache() -> None:
    one = estimated_size(entry("a", tickets=3, contacts=3))
    lru, _ = cache(max_bytes=2 * one + one // 2)
    for name in ("a", "b", "c"):
        lru.put("acme", entry(name, tickets=3, contacts=3), epoch=lru.epoch())
    assert len(lru) == 2
    assert lru.size_bytes <= lru.max_bytes
    assert lru.get("acme", "a") is None
    tiny, _ = cache(max_bytes=one - 1)
    assert not tiny.put("acme", entry("a", tickets=3, contacts=3), epoch=tiny.epoch())


def test_replacing_an_entry_keeps_the_byte_count_right() -> None:
    lru, _ = cache()
    lru.put("acme", entry("a", tickets=1), epoch=lru.epoch())
    lru.put("acme", entry("a", tickets=4), epoch=lru.epoch())
    assert lru.size_bytes == estimated_size(entry("a", tickets=4))
    lru.invalidate("acme", ["a"])
    assert lru.size_bytes == 0


def test_entries_expire_after_the_ttl() -> None:
    lru, clock = cache(ttl_s=30.0)
    lru.put("acme", entry("a"), epoch=lru.epoch())
    clock.now += 29.9
    assert lru.get("acme", "a") is not None
    clock.now += 0.2
    assert lru.get("acme", "a") is None
    assert len(lru) == 0


def test_entries_are_per_tenant() -> None:
    lru, _ = cache()
    lru.put("acme", entry("a"), epoch=lru.epoch())
    assert lru.get("globex", "a") is None
    lru.invalidate("globex", ["a"])
    assert lru.get("acme", "a") is not None


def test_a_fill_that_raced_an_invalidation_of_its_customer_is_refused() -> None:
    lru, _ = cache()
    epoch = lru.epoch()
    lru.invalidate("acme", ["a"])
    assert not lru.put("acme", entry("a"), epoch=epoch)
    assert lru.put("acme", entry("b"), epoch=epoch), "other customers are not affected"
    assert lru.put("acme", entry("a"), epoch=lru.epoch()), "a fill begun afterwards is fine"


def test_a_fill_older_than_the_remembered_invalidations_is_refused() -> None:
    lru, _ = cache(max_entries=1)
    epoch = lru.epoch()
    lru.invalidate("acme", [f"c{i}" for i in range(1_500)])
    assert not lru.put("acme", entry("a"), epoch=epoch)
    assert lru.put("acme", entry("a"), epoch=lru.epoch())


def test_clear_refuses_fills_begun_before() -> None:
    lru, _ = cache()
    epoch = lru.epoch()
    lru.put("acme", entry("a"), epoch=epoch)
    lru.clear()
    assert len(lru) == 0 and lru.size_bytes == 0
    assert not lru.put("acme", entry("b"), epoch=epoch)


def test_a_disabled_cache_stores_nothing() -> None:
    lru, _ = cache(max_entries=0)
    assert not lru.enabled
    assert not lru.put("acme", entry("a"), epoch=lru.epoch())
    assert not lru.put_unknown("acme", "+33142685300", generation=0)


def test_covers_needs_enough_rows_or_all_of_them() -> None:
    full = entry("a", tickets=5, contacts=5, limit=5)
    assert full.covers(open_tickets=5, contacts=3)
    assert not full.covers(open_tickets=6, contacts=3), "a sixth ticket may exist"
    partial = entry("a", tickets=2, contacts=1, limit=5)
    assert partial.covers(open_tickets=50, contacts=50), "fewer rows than asked: all of them"


def test_unknown_numbers_are_forgotten_when_the_tenant_numbers_change() -> None:
    lru, clock = cache()
    generation = lru.unknown_generation("acme")
    assert lru.put_unknown("acme", "+33142685300", generation=generation)
    assert lru.is_unknown("acme", "+33142685300")
    assert not lru.is_unknown("globex", "+33142685300")
    lru.apply_change("globex", ["x"], True)
    assert lru.is_unknown("acme", "+33142685300")
    lru.apply_change("acme", ["x"], False)
    assert lru.is_unknown("acme", "+33142685300"), "no number changed"
    lru.apply_change("acme", ["x"], True)
    assert not lru.is_unknown("acme", "+33142685300")
    assert not lru.put_unknown("acme", "+33142685300", generation=generation)
    assert lru.put_unknown("acme", "+33142685300", generation=lru.unknown_generation("acme"))
    clock.now += 31
    assert not lru.is_unknown("acme", "+33142685300")


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        LookupCache(max_entries=1, max_bytes=1, ttl_s=0)


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        ("acme c1,c2", ("acme", ["c1", "c2"], False)),
        ("acme c1 numbers", ("acme", ["c1"], True)),
        ("acme", None),
        ("acme ,", None),
        ("acme c1 other", None),
        (" c1", None),
    ],
)
def test_change_payloads(payload: str, parsed: tuple[str, list[str], bool] | None) -> None:
    assert parse_changes(payload) == parsed
