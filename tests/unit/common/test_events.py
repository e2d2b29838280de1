from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from switchboard_common.errors import ValidationFailed
from switchboard_common.events import Envelope, decode, registered_payloads
from switchboard_common.events.calls import CallEnded, CallHeld
from switchboard_common.events.docs import build_documents, write_event_docs


def test_envelope_round_trip_keeps_cloudevents_attributes() -> None:
    payload = CallEnded(
        call_id="c1",
        node_id="fs1",
        hangup_cause="NORMAL_CLEARING",
        ended_at=datetime(2026, 1, 1, tzinfo=UTC),
        duration_s=12.5,
        billable_s=10,
    )
    event = Envelope.wrap(payload, source="switch/fs1", tenant="acme", subject="c1")
    raw = orjson.loads(event.encode())
    assert raw["specversion"] == "1.0"
    assert raw["type"] == "switchboard.call.ended.v1"
    assert raw["tenant"] == "acme"
    assert raw["subject"] == "c1"
    again = decode(event.encode())
    assert again.id == event.id
    assert again.topic == "switchboard.calls.v1"
    assert again.payload() == payload


@pytest.mark.parametrize("raw", [b"not json", b"[1,2]", b'{"id": "x"}'])
def test_malformed_events_are_rejected_clearly(raw: bytes) -> None:
    with pytest.raises(ValidationFailed) as info:
        decode(raw)
    assert info.value.error_id == "bad-event"


def test_unknown_type_and_bad_data_are_distinguished() -> None:
    event = Envelope.wrap(CallHeld(call_id="c", node_id="n"), source="s", tenant="t")
    unknown = event.model_copy(update={"type": "switchboard.nothing.here.v1"})
    with pytest.raises(ValidationFailed) as info:
        unknown.payload()
    assert info.value.error_id == "unknown-event-type"
    broken = event.model_copy(update={"data": {"call_id": 5}})
    with pytest.raises(ValidationFailed) as info:
        broken.payload()
    assert info.value.error_id == "bad-event-data"


def test_event_type_must_follow_the_naming_rule() -> None:
    with pytest.raises(ValueError):
        Envelope(id="1", source="s", type="call.ended", time=datetime.now(UTC), tenant="t", data={})


def test_asyncapi_lists_every_registered_event_on_its_topic() -> None:
    asyncapi, schemas = build_documents()
    assert set(schemas) == set(registered_payloads())
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert {cls.TOPIC for cls in registered_payloads().values()} == addresses
    ended = schemas["switchboard.call.ended.v1"]
    assert ended["properties"]["type"]["const"] == "switchboard.call.ended.v1"
    assert "hangup_cause" in ended["properties"]["data"]["properties"]


def test_committed_event_docs_are_up_to_date(tmp_path: Path) -> None:
    """docs/events is the BI team's contract: `make event-docs` must have been run."""
    committed = Path(__file__).resolve().parents[3] / "docs" / "events"
    write_event_docs(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    stored = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert fresh == stored, "run `make event-docs`"
    for relative in fresh:
        assert (tmp_path / relative).read_text() == (committed / relative).read_text(), (
            f"{relative} is stale: run `make event-docs`"
        )


def test_every_shared_event_type_decodes_in_a_fresh_process() -> None:
    """A service that never imported a domain's payload module still knows its events."""
    import subprocess
    import sys

    code = (
        "from switchboard_common.events import Envelope, decode\n"
        "from datetime import datetime, UTC\n"
        "raw = Envelope(id='1', source='s', type='switchboard.ivr.flow_published.v1',"
        " time=datetime.now(UTC), tenant='t', data={}).encode()\n"
        "print(decode(raw).topic)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "switchboard.config.v1"
