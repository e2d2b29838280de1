"""ESL parsing benchmarks on the recorded FreeSWITCH traces, against greenswitch.

    .venv/bin/python scripts/bench/bench_esl.py

Both parsers read the same bytes with no network: ours through `FrameParser` + `Event`,
greenswitch through its own `ESLProtocol.receive_events` loop over a BytesIO standing in
for the socket file (its `readline`/`read` calls are exactly the ones it makes on a socket).
greenswitch cannot read `event json` streams (it crashes on the first JSON body), so the
comparison uses the traces it can read: every `*-plain` trace and `authfail`.

- esl_parse_rate: frames/s, ours, with what an event dispatcher reads from each event:
  `name` and `unique_id` (other headers stay undecoded until asked for).
- esl_parse_rate_greenswitch: frames/s, greenswitch (which decodes every header of every
  event, and queues it).
- esl_parse_ratio_vs_greenswitch: the two above divided.
- esl_parse_rate_json: frames/s, ours, on the JSON traces (same access pattern).
- esl_full_decode_rate: frames/s, ours, decoding every header and body of every event.
- esl_full_decode_ratio_vs_greenswitch: the figure above over greenswitch's.

Runs alternate between the parsers and the best round of each counts, so that a noisy
neighbour on the machine skews both alike.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import greenswitch.esl as greenswitch

from switchboard_common.esl import Event, FrameParser

TRACE_DIR = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "freeswitch"
ROUNDS = 10
ROUND_SECONDS = 0.25


def load_traces() -> tuple[list[bytes], list[bytes]]:
    paths = sorted(p for p in TRACE_DIR.glob("trace-*.txt") if ".sent." not in p.name)
    plain = [p.read_bytes() for p in paths if not p.name.endswith("-json.txt")]
    json_ = [p.read_bytes() for p in paths if p.name.endswith("-json.txt")]
    return plain, json_


def ours_dispatch(traces: list[bytes]) -> int:
    frames = 0
    for data in traces:
        for frame in FrameParser().feed(data):
            frames += 1
            if frame.is_event:
                event = Event.from_frame(frame)
                _ = event.name
                _ = event.unique_id
    return frames


def ours_full(traces: list[bytes]) -> int:
    frames = 0
    for data in traces:
        for frame in FrameParser().feed(data):
            frames += 1
            if frame.is_event:
                event = Event.from_frame(frame)
                _ = event.headers
                _ = event.body
    return frames


class _IgnoredReply:
    def set(self, value: object) -> None:
        """Nobody waits for command replies here."""


class _NoCommands(list[Any]):
    def pop(self, index: Any = -1) -> _IgnoredReply:
        return _IgnoredReply()


class _Socket:
    def close(self) -> None:
        """Nothing to close."""


class _GreenswitchReader(greenswitch.ESLProtocol):  # type: ignore[misc]
    def __init__(self, data: bytes) -> None:
        super().__init__()
        self.sock_file = io.BytesIO(data)
        self.sock = _Socket()
        self.connected = True
        self._commands_sent = _NoCommands()
        self.frames = 0

    def handle_event(self, event: Any) -> None:
        super().handle_event(event)
        self.frames += 1


def theirs(traces: list[bytes]) -> int:
    frames = 0
    for data in traces:
        reader = _GreenswitchReader(data)
        reader.receive_events()
        frames += reader.frames
    return frames


def best_rate(run: Callable[[list[bytes]], int], traces: list[bytes], seconds: float) -> float:
    """Frames per second of the fastest whole pass within `seconds` of repeated passes."""
    best = 0.0
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        frames = run(traces)
        elapsed = time.perf_counter() - start
        best = max(best, frames / elapsed)
        if time.perf_counter() >= deadline:
            return best


def main() -> None:
    plain, json_ = load_traces()
    assert ours_dispatch(plain) == theirs(plain), "both parsers must see the same frames"
    rates: dict[str, float] = {"ours": 0.0, "theirs": 0.0, "json": 0.0, "full": 0.0}
    runs: dict[str, tuple[Callable[[list[bytes]], int], list[bytes]]] = {
        "ours": (ours_dispatch, plain),
        "theirs": (theirs, plain),
        "json": (ours_dispatch, json_),
        "full": (ours_full, plain),
    }
    for _ in range(ROUNDS):
        for key, (run, traces) in runs.items():
            rates[key] = max(rates[key], best_rate(run, traces, ROUND_SECONDS))
    print(f"BENCH esl_parse_rate {rates['ours']:.0f} frames/s")
    print(f"BENCH esl_parse_rate_greenswitch {rates['theirs']:.0f} frames/s")
    print(f"BENCH esl_parse_ratio_vs_greenswitch {rates['ours'] / rates['theirs']:.1f} x")
    print(f"BENCH esl_parse_rate_json {rates['json']:.0f} frames/s")
    print(f"BENCH esl_full_decode_rate {rates['full']:.0f} frames/s")
    print(f"BENCH esl_full_decode_ratio_vs_greenswitch {rates['full'] / rates['theirs']:.1f} x")


if __name__ == "__main__":
    main()
