"""`switchboard up` end to end: every service, the simulator's traffic and the demo world.

One `up --duration 20` in a fresh `$SWITCHBOARD_HOME` (shared by the tests of this module),
then a second `up` on the same home, which must find the demo already provisioned.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

UP_TIMEOUT_S = 150
pytestmark = pytest.mark.timeout(2 * UP_TIMEOUT_S + 60)


@dataclass(frozen=True)
class UpRun:
    home: Path
    returncode: int
    output: str

    @property
    def summary(self) -> dict[str, str]:
        lines = [line for line in self.output.splitlines() if line.startswith("summary: ")]
        assert lines, f"no summary line in:\n{self.output}"
        return dict(pair.split("=", 1) for pair in lines[-1].removeprefix("summary: ").split())

    def figure(self, name: str) -> int:
        return int(self.summary[name])


def run_up(home: Path, duration: int) -> UpRun:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("KAFKA_BOOTSTRAP_SERVERS", "FREESWITCH_ESL")
    }
    env["SWITCHBOARD_HOME"] = str(home)
    completed = subprocess.run(
        [sys.executable, "-m", "switchboard_cli.main", "up", "--duration", str(duration)],
        env=env,
        capture_output=True,
        text=True,
        timeout=UP_TIMEOUT_S,
        check=False,
    )
    return UpRun(home, completed.returncode, completed.stdout + completed.stderr)


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> UpRun:
    return run_up(tmp_path_factory.mktemp("switchboard-home"), 20)


def test_up_exits_0_with_every_service_healthy(first_run: UpRun) -> None:
    assert first_run.returncode == 0, first_run.output
    assert first_run.summary["services_healthy"] == "8/8"
    assert first_run.figure("restarts") == 0
    assert 0 < float(first_run.summary["startup_s"]) < 120, "seconds until all were healthy"


def test_services_json_lists_the_eight_services_with_their_health(first_run: UpRun) -> None:
    data = json.loads((first_run.home / "services.json").read_text())
    services = {item["name"]: item for item in data["services"] if item["name"] != "simulator"}
    assert len(services) == 8
    assert {item["health"] for item in services.values()} == {"healthy"}
    assert all(item["http_url"].startswith("http://127.0.0.1:") for item in services.values())


def test_the_demo_is_provisioned_without_a_failed_step(first_run: UpRun) -> None:
    assert "failed" not in first_run.output, first_run.output
    assert re.search(r"^demo: \d+ provisioning steps done; ready$", first_run.output, re.M)
    state = json.loads((first_run.home / "demo.json").read_text())
    assert set(state["tenants"]) == {"acme", "globex"}
    assert all(entry["api_key"] for entry in state["tenants"].values())


def test_calls_travel_from_the_simulator_through_the_ivr_to_the_agents(first_run: UpRun) -> None:
    assert first_run.figure("calls_placed") > 0
    assert first_run.figure("ivr_completed") > 0, "calls ran the demo flow to its queue"
    assert first_run.figure("calls_answered_by_agents") > 0, "routing's offers were answered"
    assert first_run.figure("calls_ended") > 0
    for figure in ("surveys", "voicemails"):
        assert first_run.summary[figure].isdigit(), f"{figure} is reported"


def test_a_second_up_on_the_same_home_keeps_the_demo(first_run: UpRun) -> None:
    before = json.loads((first_run.home / "demo.json").read_text())
    again = run_up(first_run.home, 5)
    assert again.returncode == 0, again.output
    assert again.summary["services_healthy"] == "8/8"
    assert "failed" not in again.output, again.output
    after = json.loads((first_run.home / "demo.json").read_text())
    assert after == before, "the credentials created the first time are kept"
