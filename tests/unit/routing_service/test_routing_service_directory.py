"""Routing's in-memory directory of agents' extensions stays right when a user change
arrives while the tenant's state is still being loaded from the store."""

from __future__ import annotations

import asyncio

from routing_service_fakes import (
    TENANT,
    FakeCallControl,
    FakeStore,
    ManualClock,
    enqueued,
    routing,
)

from switchboard_common.events.config import UserCreated, UserDeleted
from switchboard_routing.repository import Directory, TenantLoad


class SlowLoadStore(FakeStore):
    """Returns what it read before `release` is set, as a slow database read would."""

    def __init__(self) -> None:
        super().__init__()
        self.loading = asyncio.Event()
        self.release = asyncio.Event()

    async def load_tenant(self, tenant_id: str) -> TenantLoad:
        read = self._load(tenant_id)
        self.loading.set()
        await self.release.wait()
        return read


def user(user_id: str, extension: str) -> UserCreated:
    return UserCreated(
        user_id=user_id,
        username=user_id,
        display_name=user_id,
        roles=("agent",),
        permissions=(),
        is_agent=True,
        extension=extension,
    )


async def test_a_user_created_during_the_first_load_is_not_lost(
    control: FakeCallControl, clock: ManualClock
) -> None:
    store = SlowLoadStore()
    service = await routing(store, control, clock)
    store.directories[TENANT] = Directory(sip_domain="acme.sip", extensions={"old": "1000"})
    store.put_queue(TENANT, "sales")

    first_call = asyncio.create_task(service.call_enqueued(TENANT, enqueued("c1")))
    await store.loading.wait()
    await service.config_event(TENANT, user("agent-7", "1007"))
    await service.config_event(TENANT, UserDeleted(user_id="old", username="old"))
    store.release.set()
    await first_call

    state = service.tenant(TENANT)
    assert state is not None
    assert state.engine.waiting_call_ids("sales") == ["c1"]
    assert state.directory.extensions == {"agent-7": "1007"}
    assert store.config_events[-1] == UserDeleted(user_id="old", username="old")


async def test_changes_after_the_load_apply_directly(
    store: FakeStore, control: FakeCallControl, clock: ManualClock
) -> None:
    store.put_queue(TENANT, "sales")
    service = await routing(store, control, clock)
    state = service.tenant(TENANT)
    assert state is not None

    await service.config_event(TENANT, user("agent-8", "1008"))

    assert state.directory.extensions == {"agent-8": "1008"}
