"""The agent desktop in headless Chromium: log in with a token, go available, get a call
popped with its customer card, hold, transfer, wrap up with a disposition, create a ticket.

Events that routing and switch would publish are published by the test on the real broker;
CallControl, customer cards and tickets are fakes. Screenshots go to test-artifacts/cti/.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from switchboard_common.bus import BrokerEndpoint
from switchboard_common.events.agents import AgentState
from switchboard_common.events.calls import CallBridged
from switchboard_common.events.queues import QueueConfigChanged
from switchboard_cti.domain.calls import AgentCall
from tests.integration.cti.harness import (
    SUPERVISOR_PERMISSIONS,
    Harness,
    eventually,
    fetched_eventually,
    running_cti,
)

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "cti"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"headless Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
    ),
]


@pytest_asyncio.fixture(loop_scope="session")
async def cti(kafka_broker: BrokerEndpoint, tmp_path: Path) -> AsyncIterator[Harness]:
    async with running_cti(kafka_broker, tmp_path) as harness:
        harness.cards.cards["+15550177"] = {
            "id": "cust-9",
            "name": "Grace Hopper",
            "company": "Navy",
            "vip_level": "platinum",
            "open_tickets": [
                {
                    "number": "ACME-000042",
                    "title": "Invoice wrong",
                    "status": "new",
                    "priority": "P2",
                }
            ],
            "recent_contacts": [
                {
                    "at": "2025-01-02T10:00:00Z",
                    "kind": "call",
                    "disposition": "resolved",
                    "ticket_number": "",
                }
            ],
        }
        await harness.publish(
            QueueConfigChanged(
                queue_id="q-support",
                version=1,
                config={"name": "Support", "wrap_up_seconds": 120},
                changed_at=datetime.now(UTC),
            )
        )
        await harness.service.agents.update_profile(
            harness.tenant, "zed", display_name="Zed", extension="1009"
        )
        await harness.service.agents.set_state(harness.tenant, "zed", AgentState.AVAILABLE)
        yield harness


@pytest_asyncio.fixture(loop_scope="session")
async def page(cti: Harness) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = await browser.new_context(viewport={"width": 1366, "height": 900})
        yield await context.new_page()
        await browser.close()


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_agent_desktop_call_flow(cti: Harness, page: Any) -> None:
    from playwright.async_api import expect

    await page.goto(f"{cti.base_url}/desktop/")
    await page.get_by_text("Use an access token").click()
    await page.get_by_test_id("token-input").fill(cti.token("ann"))
    await page.click("#btn-token")
    state = page.get_by_test_id("state")
    await expect(page.get_by_test_id("connection")).to_have_text("connected")
    await expect(state).to_have_text("logged out")
    await shot(page, "01-logged-in")

    await page.get_by_test_id("btn-available").click()
    await expect(state).to_have_text("available")

    await cti.offer("call-b1", "ann", queue_id="q-support", caller="+15550177")
    await expect(page.get_by_test_id("pop")).to_be_visible()
    await expect(page.get_by_test_id("customer-name")).to_have_text("Grace Hopper")
    await expect(page.get_by_test_id("customer-vip")).to_have_text("VIP platinum")
    await expect(page.get_by_test_id("open-tickets")).to_contain_text("ACME-000042")
    await expect(page.get_by_test_id("pop-queue")).to_have_text("Support")
    await expect(state).to_have_text("reserved")
    await shot(page, "02-screen-pop")

    await cti.publish(
        CallBridged(
            call_id="call-b1",
            node_id="node-1",
            other_call_id="agent-leg-b1",
            bridged_at=datetime.now(UTC),
        ),
        "call-b1",
    )
    await expect(state).to_have_text("on call")
    await page.keyboard.press("h")
    await expect(state).to_have_text("on hold")
    await expect(page.get_by_test_id("call-status")).to_contain_text("on hold")
    await shot(page, "03-on-hold")
    await page.get_by_test_id("btn-hold").click()
    await expect(state).to_have_text("on call")

    await page.get_by_test_id("transfer-kind").select_option("agent")
    await page.get_by_test_id("transfer-target").fill("nobody")
    await page.get_by_test_id("btn-transfer").click()
    await expect(page.get_by_test_id("error")).to_contain_text("unknown-transfer-target")
    await expect(state).to_have_text("on call")
    await page.get_by_test_id("transfer-target").fill("zed")
    await page.get_by_test_id("btn-transfer").click()
    await expect(state).to_have_text("wrap up")
    assert ("transfer", ("call-b1", "bridge:user/1009@acme.example", "inline")) in (
        cti.callcontrol.commands
    )
    zed = cti.service.agents.require(cti.tenant, "zed")
    await eventually(lambda: zed.status.state is AgentState.RESERVED)  # it gets the pop
    await expect(page.get_by_test_id("wrapup")).to_be_visible()
    await shot(page, "04-wrap-up")

    await page.get_by_test_id("ticket-subject").fill("Invoice still wrong")
    await page.get_by_test_id("ticket-description").fill("Customer called again")
    await page.get_by_test_id("btn-ticket").click()
    await expect(page.get_by_test_id("ticket-result")).to_have_text("Created ACME-000001")
    assert cti.tickets.created[-1][1]["origin_call_id"] == "call-b1"

    await page.get_by_test_id("disposition-select").select_option("escalated")
    await page.get_by_test_id("wrapup-notes").fill("transferred to billing")
    await page.get_by_test_id("btn-wrapup").click()
    await expect(state).to_have_text("available")
    await expect(page.get_by_test_id("wrapup")).to_be_hidden()
    await shot(page, "05-back-available")


async def test_supervisor_page_shows_agents_and_forces_a_state(cti: Harness, page: Any) -> None:
    from playwright.async_api import expect

    await cti.service.agents.set_state(cti.tenant, "ann", AgentState.AVAILABLE)
    await page.goto(f"{cti.base_url}/desktop/supervisor.html")
    await page.get_by_text("Use an access token").click()
    await page.get_by_test_id("token-input").fill(
        cti.token("sup", permissions=SUPERVISOR_PERMISSIONS)
    )
    await page.click("#btn-token")
    row = page.get_by_test_id("agent-ann")
    await expect(row).to_contain_text("available")
    queue = page.get_by_test_id("queue-q-support")
    await expect(queue).to_contain_text("available: 2")
    await page.get_by_test_id("force-not-ready-ann").click()
    await expect(row).to_contain_text("not_ready (supervisor)")
    await expect(queue).to_contain_text("available: 1, not_ready: 1")
    await shot(page, "06-supervisor")
    entries = await fetched_eventually(lambda: cti.service.repository.list_audit(cti.tenant, "ann"))
    assert [(e.actor, e.to_state) for e in entries] == [("sup", "not_ready")]

    agents = cti.service.agents
    consult = AgentCall(call_id="colleague-b", node_id="node-1", internal_from="ann")
    assert await agents.colleague_ringing(cti.tenant, "zed", consult, {"type": "colleague_call"})
    zed = page.get_by_test_id("agent-zed")
    await expect(zed).to_contain_text("reserved")
    await agents.colleague_answered(cti.tenant, "zed", "colleague-b", "leg-zed")
    await expect(zed).to_contain_text("on_call")
    await expect(zed).to_contain_text("colleague ann")
    await shot(page, "07-supervisor-colleague-call")
    await agents.leg_ended(cti.tenant, "leg-zed")
    await expect(zed).to_contain_text("available")
