"""The look-up cache on PostgreSQL: after each kind of write, the next look-up reflects it,
in the instance that wrote and in a second instance on the same database (which learns of
the change through the database's change notifications)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from switchboard_tickets.main import TicketsApp
from switchboard_tickets.schemas import (
    CustomerCreate,
    CustomerLookup,
    CustomerUpdate,
    MergeRequest,
    TicketCreate,
    TicketUpdate,
    TransitionRequest,
)

NUMBER = "+33142685300"


@pytest.fixture()
async def pair(service: TicketsApp, make_service: Any) -> AsyncIterator[list[TicketsApp]]:
    """The writing instance (`service`, which `call_events` feeds) and a second one, both
    with their cache listening."""
    second: TicketsApp = await make_service()
    instances = [service, second]
    for instance in instances:
        await instance.cache_listener.start()
    try:
        yield instances
    finally:
        for instance in instances:
            await instance.cache_listener.stop()


Check = Callable[[CustomerLookup], bool]


@pytest.fixture()
def reflects(
    pair: list[TicketsApp], tenant: str, eventually: Any
) -> Callable[..., Awaitable[None]]:
    """`await reflects(check)`: both instances' next look-up of NUMBER passes `check`."""

    async def wait(check: Check, number: str = NUMBER) -> None:
        first, second = pair
        assert check(await first.customers.lookup(tenant, number)), "the writer is stale"

        async def second_sees() -> bool:
            return check(await second.customers.lookup(tenant, number))

        await eventually(second_sees, timeout_s=10)

    return wait


async def _cached_everywhere(pair: list[TicketsApp], tenant: str, customer_id: str) -> None:
    """Look the customer up in both instances until both caches hold it (a fill is refused
    while the notification of the write that preceded it is still on its way)."""
    for instance in pair:
        for _ in range(200):
            await instance.customers.lookup(tenant, NUMBER)
            if instance.cache.get(tenant, customer_id) is not None:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the customer never entered the cache")


async def _customer(pair: list[TicketsApp], tenant: str, **fields: Any) -> str:
    created = await pair[0].customers.create(
        tenant, CustomerCreate(name="Ada", phones=(NUMBER,), **fields)
    )
    await _cached_everywhere(pair, tenant, created.id)
    return created.id


async def test_a_hit_is_served_from_memory(pair: list[TicketsApp], tenant: str) -> None:
    first, _ = pair
    customer_id = await _customer(pair, tenant)
    hits = first.cache.hits
    answer = await first.customers.lookup(tenant, NUMBER)
    assert first.cache.hits == hits + 1
    assert answer.found and answer.customer is not None
    assert answer.customer.id == customer_id
    assert answer.model_dump(mode="json")["customer"]["name"] == "Ada"


async def test_customer_edit_is_seen(pair: list[TicketsApp], tenant: str, reflects: Any) -> None:
    customer_id = await _customer(pair, tenant)
    await pair[0].customers.update(
        tenant, customer_id, CustomerUpdate(version=1, name="Ada Lovelace", vip_level=3)
    )
    await reflects(
        lambda a: (
            a.customer is not None
            and a.customer.name == "Ada Lovelace"
            and int(a.customer.vip_level) == 3
        )
    )


async def test_a_number_moved_away_is_no_longer_found(
    pair: list[TicketsApp], tenant: str, reflects: Any
) -> None:
    customer_id = await _customer(pair, tenant)
    await pair[0].customers.update(
        tenant, customer_id, CustomerUpdate(version=1, phones=("+442079460958",))
    )
    await reflects(lambda a: not a.found)
    await reflects(lambda a: a.customer is not None, number="+442079460958")


async def test_customer_delete_is_seen(pair: list[TicketsApp], tenant: str, reflects: Any) -> None:
    customer_id = await _customer(pair, tenant)
    await pair[0].customers.delete(tenant, customer_id, version=1)
    await reflects(lambda a: not a.found)


async def test_merge_is_seen(pair: list[TicketsApp], tenant: str, reflects: Any) -> None:
    survivor = await _customer(pair, tenant)
    other = await pair[0].customers.create(
        tenant, CustomerCreate(name="Ada L.", phones=("+442079460958",), tags=("vip",))
    )
    await pair[0].tickets.create(tenant, TicketCreate(subject="Refund", customer_id=other.id))
    await pair[0].customers.merge(tenant, MergeRequest(customer_ids=(survivor, other.id)))
    await reflects(
        lambda a: (
            a.customer is not None
            and "vip" in a.customer.tags
            and [t.subject for t in a.open_tickets] == ["Refund"]
        )
    )


async def test_ticket_create_update_and_transition_are_seen(
    pair: list[TicketsApp], tenant: str, reflects: Any
) -> None:
    customer_id = await _customer(pair, tenant)
    first = pair[0]
    ticket = await first.tickets.create(
        tenant, TicketCreate(subject="Broken phone", customer_id=customer_id)
    )
    await reflects(lambda a: [t.subject for t in a.open_tickets] == ["Broken phone"])
    await _cached_everywhere(pair, tenant, customer_id)

    changed = await first.tickets.update(
        tenant, ticket.id, TicketUpdate(version=ticket.version, subject="Broken headset")
    )
    await reflects(lambda a: [t.subject for t in a.open_tickets] == ["Broken headset"])
    await _cached_everywhere(pair, tenant, customer_id)

    await first.tickets.transition(
        tenant,
        ticket.id,
        TransitionRequest(status="resolved", version=changed.version, resolution="replaced"),
    )
    await reflects(lambda a: a.open_tickets == [])


async def test_a_ticket_moved_to_another_customer_leaves_the_first(
    pair: list[TicketsApp], tenant: str, reflects: Any
) -> None:
    customer_id = await _customer(pair, tenant)
    other = await pair[0].customers.create(tenant, CustomerCreate(name="Grace"))
    ticket = await pair[0].tickets.create(
        tenant, TicketCreate(subject="Invoice", customer_id=customer_id)
    )
    await _cached_everywhere(pair, tenant, customer_id)
    await pair[0].tickets.update(
        tenant, ticket.id, TicketUpdate(version=ticket.version, customer_id=other.id)
    )
    await reflects(lambda a: a.open_tickets == [])


async def test_contact_history_append_is_seen(
    pair: list[TicketsApp], tenant: str, reflects: Any, call_events: Any
) -> None:
    await _customer(pair, tenant)
    call_id = f"call-{uuid.uuid4().hex[:8]}"
    await call_events.arrived(tenant, call_id, NUMBER)
    await reflects(lambda a: [c.call_id for c in a.recent_contacts] == [call_id])


async def test_a_lost_listener_turns_the_cache_off_until_it_listens_again(
    pair: list[TicketsApp], tenant: str, eventually: Any
) -> None:
    second = pair[1]
    customer_id = await _customer(pair, tenant)
    second.cache_listener.simulate_loss()
    assert second.cache.get(tenant, customer_id) is None
    await second.customers.lookup(tenant, NUMBER)
    assert len(second.cache) == 0, "nothing may be cached while changes cannot arrive"

    async def listening_again() -> bool:
        return second.cache_listener.listening

    await eventually(listening_again, timeout_s=10)
    await second.customers.lookup(tenant, NUMBER)
    assert second.cache.get(tenant, customer_id) is not None


async def test_warm_up_loads_recently_active_customers(
    pair: list[TicketsApp], tenant: str, call_events: Any, clock: Any
) -> None:
    customer_id = await _customer(pair, tenant)
    clock.advance(timedelta(days=3650))
    await call_events.arrived(tenant, f"call-{uuid.uuid4().hex[:8]}", NUMBER)
    second = pair[1]
    second.cache.clear()
    assert await second.customers.warm_cache(1_000) >= 1
    assert second.cache.get(tenant, customer_id) is not None


async def test_an_unknown_number_is_found_once_someone_owns_it(
    pair: list[TicketsApp], tenant: str, reflects: Any
) -> None:
    first, second = pair
    for instance in pair:
        assert not (await instance.customers.lookup(tenant, NUMBER)).found
        assert instance.cache.is_unknown(tenant, NUMBER), "an unknown number is remembered"
    grace = await first.customers.create(tenant, CustomerCreate(name="Grace"))
    await reflects(lambda a: not a.found)
    await first.customers.update(tenant, grace.id, CustomerUpdate(version=1, phones=(NUMBER,)))
    await reflects(lambda a: a.customer is not None and a.customer.name == "Grace")
    assert second.index.get(tenant, NUMBER) == grace.id
