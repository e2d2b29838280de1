"""EslClient settings that need no connection: backoff and what it subscribes to."""

from __future__ import annotations

from switchboard_common.esl import EslClient


def test_backoff_grows_with_jitter_and_stays_bounded() -> None:
    client = EslClient(backoff_initial=0.5, backoff_max=8.0)
    for attempt, step in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0), (500, 8.0)]:
        delays = {client.backoff_delay(attempt) for _ in range(50)}
        assert all(step * 0.5 <= delay <= step for delay in delays)
        assert len(delays) > 1  # jittered


def test_subscription_commands() -> None:
    assert EslClient().subscription_commands() == [b"event json BACKGROUND_JOB\n\n"]
    assert EslClient(events=["ALL"], event_format="plain").subscription_commands() == [
        b"event plain ALL\n\n"
    ]
    commands = EslClient(
        events=["CHANNEL_CREATE", "CUSTOM"],
        custom_subclasses=["callcenter::info"],
        filters=[("Unique-ID", "abc")],
        log_level="debug",
    ).subscription_commands()
    assert commands == [
        b"event json CHANNEL_CREATE BACKGROUND_JOB CUSTOM callcenter::info\n\n",
        b"filter Event-Name BACKGROUND_JOB\n\n",
        b"filter Unique-ID abc\n\n",
        b"log debug\n\n",
    ]
