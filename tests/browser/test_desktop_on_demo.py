"""A person at the agent desktop of a running `switchboard up`: logs in as a demo agent with
the demo's credentials, takes over from the synthetic agent, and works a real simulated call
(the simulator's caller went through the IVR and routing; the simulated phone answers and
stays on the line, `--talk-time 120`): the screen pop, on call, hold, mute, the demo
supervisor listening in from the supervisor page, hang up, and the wrap-up with a
disposition. Screenshots go to test-artifacts/demo/."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "demo"
READY_TIMEOUT_S = 240.0

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"headless Chromium is not installed at {CHROMIUM} (apt-get install chromium)",
    ),
]


@dataclass
class RunningDemo:
    home: Path
    process: subprocess.Popen[str]
    output: list[str]

    @property
    def desktop_url(self) -> str:
        services = json.loads((self.home / "services.json").read_text())["services"]
        cti = next(item for item in services if item["name"] == "cti")
        return f"{cti['http_url']}/desktop/"

    def credentials(self, tenant: str) -> dict[str, Any]:
        state = json.loads((self.home / "demo.json").read_text())
        entry: dict[str, Any] = state["tenants"][tenant]
        return entry


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    home = tmp_path_factory.mktemp("demo-home")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KAFKA_BOOTSTRAP_SERVERS", "FREESWITCH_ESL")
    }
    env["SWITCHBOARD_HOME"] = str(home)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "switchboard_cli.main",
            "up",
            "--duration",
            "600",
            "--talk-time",
            "120",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        for line in process.stdout:
            output.append(line)
            if re.match(r"^demo: \d+ provisioning steps done; ready", line):
                break
            assert time.monotonic() < deadline, "".join(output)
        else:
            pytest.fail("switchboard up stopped before the demo was ready:\n" + "".join(output))
        yield RunningDemo(home, process, output)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


async def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def finish_what_the_synthetic_agent_left(page: Any, state: Any) -> None:
    """The synthetic agent may have been ringing, on a call or in wrap-up: the person ends
    that call and files its wrap-up, until the agent is available."""
    from playwright.async_api import expect

    for _ in range(5):
        current = await state.text_content()
        if current == "available":
            return
        if current in ("on call", "on hold"):
            await page.get_by_test_id("btn-hangup").click()
        if current in ("on call", "on hold", "wrap up"):
            await expect(page.get_by_test_id("wrapup")).to_be_visible(timeout=20_000)
            await page.get_by_test_id("btn-wrapup").click()
        await expect(state).not_to_have_text(current or "", timeout=30_000)
    await expect(state).to_have_text("available")


async def test_a_person_takes_a_simulated_call_at_the_demo_desktop(demo: RunningDemo) -> None:
    from playwright.async_api import async_playwright, expect

    acme = demo.credentials("acme")
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = await (await browser.new_context(viewport={"width": 1366, "height": 900})).new_page()
        await page.goto(demo.desktop_url)
        await page.locator("#login-tenant").fill("acme")
        await page.locator("#login-username").fill("1001")
        await page.locator("#login-password").fill(acme["agent_password"])
        await page.locator("#btn-login").click()
        await expect(page.get_by_test_id("connection")).to_have_text("connected")
        state = page.get_by_test_id("state")
        await expect(state).not_to_have_text("offline")
        await shot(page, "01-logged-in")

        if (await state.text_content()) in ("logged out", "not ready"):
            await page.get_by_test_id("btn-available").click()
        await expect(state).to_have_text(
            re.compile("available|reserved|on call|wrap up"), timeout=20_000
        )
        await finish_what_the_synthetic_agent_left(page, state)

        pop = page.get_by_test_id("pop")
        await expect(pop).to_be_visible(timeout=90_000)
        await expect(page.get_by_test_id("pop-caller")).to_contain_text("+1")
        await expect(page.get_by_test_id("pop-queue")).not_to_be_empty()
        await expect(page.get_by_test_id("ivr-path")).not_to_be_empty()
        await shot(page, "02-screen-pop")

        await expect(state).to_have_text("on call", timeout=20_000)
        agent_id = str(await page.evaluate("view.agent.agent_id"))
        await page.get_by_test_id("btn-hold").click()
        await expect(state).to_have_text("on hold")
        await shot(page, "03-on-hold")
        await page.get_by_test_id("btn-hold").click()
        await expect(state).to_have_text("on call")
        await page.get_by_test_id("btn-mute").click()
        await expect(page.get_by_test_id("btn-mute")).to_have_text("Unmute")
        await page.get_by_test_id("btn-mute").click()
        await expect(page.get_by_test_id("btn-mute")).to_have_text("Mute")

        supervisor = await (await browser.new_context()).new_page()
        await supervisor.goto(demo.desktop_url + "supervisor.html")
        await supervisor.locator("#login-tenant").fill("acme")
        await supervisor.locator("#login-username").fill("supervisor")
        await supervisor.locator("#login-password").fill(acme["supervisor_password"])
        await supervisor.locator("#btn-login").click()
        await expect(supervisor.get_by_test_id("agent-" + agent_id)).to_contain_text("on_call")
        await supervisor.get_by_test_id("sup-endpoint").fill("user/1900@acme.example")
        await supervisor.get_by_test_id("listen-" + agent_id).click()
        await expect(supervisor.get_by_test_id("sup-status")).to_contain_text(
            "listen: user/1900@acme.example is on", timeout=20_000
        )
        await shot(supervisor, "04-supervisor-listening")
        await page.get_by_test_id("btn-hangup").click()

        await expect(page.get_by_test_id("wrapup")).to_be_visible(timeout=20_000)
        await shot(page, "05-wrap-up")
        await page.get_by_test_id("disposition-select").select_option(index=0)
        await page.get_by_test_id("wrapup-notes").fill("demo call, taken by a person")
        await page.get_by_test_id("btn-wrapup").click()
        await expect(state).to_have_text(re.compile("available|reserved"), timeout=20_000)
        await shot(page, "06-back-available")
        await browser.close()
    assert demo.process.poll() is None, "switchboard up kept running"
