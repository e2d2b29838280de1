"""Drive the simulator with greenswitch (gevent) and print what it saw as JSON lines.

Run as a subprocess by test_greenswitch.py so that gevent never touches the test's event
loop: `python greenswitch_probe.py PORT`. It prints `{"ready": ...}` once subscribed, then
`{"events": ...}` after the first CHANNEL_HANGUP_COMPLETE (or a 20 s timeout).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import gevent  # type: ignore[import-untyped]
import gevent.event  # type: ignore[import-untyped]
import greenswitch

KEYS = ("Event-Name", "Unique-ID", "Channel-State", "Hangup-Cause", "variable_sb_tenant")


def main(port: int) -> int:
    esl = greenswitch.InboundESL(host="127.0.0.1", port=port, password="ClueCon")
    esl.connect()
    status = esl.send("api status")
    seen: list[dict[str, Any]] = []
    jobs: list[dict[str, Any]] = []
    finished = gevent.event.Event()

    def on_channel(event: Any) -> None:
        seen.append({key: event.headers.get(key) for key in KEYS})
        if event.headers.get("Event-Name") == "CHANNEL_HANGUP_COMPLETE":
            finished.set()

    def on_anything(event: Any) -> None:
        jobs.append(
            {
                "name": event.headers.get("Event-Name"),
                "job": event.headers.get("Job-UUID"),
                "command": event.headers.get("Job-Command"),
            }
        )

    for name in ("CHANNEL_CREATE", "CHANNEL_PARK", "CHANNEL_HANGUP_COMPLETE"):
        esl.register_handle(name, on_channel)
    esl.register_handle("*", on_anything)
    subscribed = esl.send(
        "event plain CHANNEL_CREATE CHANNEL_PARK CHANNEL_HANGUP_COMPLETE BACKGROUND_JOB"
    )
    background = esl.send("bgapi version")
    print(
        json.dumps(
            {
                "ready": True,
                "status": status.data,
                "status_type": status.headers.get("Content-Type"),
                "subscribed": subscribed.data,
                "bgapi": background.data,
                "bgapi_job": background.headers.get("Job-UUID"),
            }
        ),
        flush=True,
    )
    finished.wait(timeout=20)
    gevent.sleep(0.2)
    print(json.dumps({"events": seen, "others": jobs}), flush=True)
    esl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
