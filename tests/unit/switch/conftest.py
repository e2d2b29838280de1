"""A deliberately small reader of the recorded JSON traces, independent of the ESL client."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

TRACES = Path(__file__).resolve().parents[2] / "fixtures" / "freeswitch"
_FRAME = re.compile(rb"Content-Length: (\d+)\nContent-Type: text/event-json\n\n")


def json_events(flow: str) -> list[dict[str, str]]:
    data = (TRACES / f"trace-{flow}-json.txt").read_bytes()
    events, position = [], 0
    while match := _FRAME.search(data, position):
        start = match.end()
        end = start + int(match.group(1))
        events.append(json.loads(data[start:end]))
        position = end
    return events


@pytest.fixture()
def trace_events() -> Callable[[str], list[dict[str, str]]]:
    return json_events
