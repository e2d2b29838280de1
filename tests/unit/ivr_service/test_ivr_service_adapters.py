"""The outbound adapters without network: run notifier, webhook client, CLI, settings."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from switchboard_common.bus import BusUnavailable, Delivery, OutgoingRecord
from switchboard_common.events import decode
from switchboard_common.events.ivr import IvrCompleted, SurveyCompleted, VoicemailLeft
from switchboard_ivr import cli
from switchboard_ivr.domain import SIGNATURE_HEADER, HttpFailed, HttpRequest, HttpResponse
from switchboard_ivr.notifier import IvrStats, RunNotifier
from switchboard_ivr.settings import IvrSettings
from switchboard_ivr.webhooks import WebhookClient

AT = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DEMO_FLOW = Path(__file__).parents[3] / "services/ivr/src/switchboard_ivr/domain/demo_flow.json"


def completed(call_id: str, reason: str = "hangup", phase: str = "ivr") -> IvrCompleted:
    return IvrCompleted(
        call_id=call_id,
        flow_id="f",
        exit_reason=reason,
        last_node="n",
        phase=phase,
        nodes_visited=1,
        completed_at=AT,
    )


class FlakyPublisher:
    """Batch sends fail for the ids in `batch_failures`; single sends for `lost`."""

    def __init__(
        self, batch_failures: frozenset[int] = frozenset(), lost: frozenset[int] = frozenset()
    ) -> None:
        self.batch_failures = set(batch_failures)
        self.lost = set(lost)
        self.delivered: list[OutgoingRecord] = []
        self.batches: list[int] = []
        self.sent = 0

    async def publish_record(self, record: OutgoingRecord) -> Delivery:
        index = int(decode(record.value).data["call_id"])
        if index in self.lost:
            raise BusUnavailable("broker away")
        self.delivered.append(record)
        return Delivery(record.topic, 0, len(self.delivered))

    async def publish_batch(self, records: Sequence[OutgoingRecord]) -> list[Delivery | Exception]:
        self.batches.append(len(records))
        results: list[Delivery | Exception] = []
        for record in records:
            index = int(decode(record.value).data["call_id"])
            if index in self.batch_failures or index in self.lost:
                results.append(RuntimeError("not acknowledged"))
            else:
                self.delivered.append(record)
                results.append(Delivery(record.topic, 0, len(self.delivered)))
        return results


async def test_the_notifier_sends_in_batches_in_order_and_retries_what_failed() -> None:
    publisher = FlakyPublisher(batch_failures=frozenset({3}), lost=frozenset({7}))
    notifier = RunNotifier(publisher, batch_size=4)
    await notifier.start()
    for index in range(10):
        notifier.announce("acme", completed(str(index)), subject=str(index))
    await notifier.flush()
    await notifier.stop()

    sent = [int(decode(record.value).data["call_id"]) for record in publisher.delivered]
    assert sent == [0, 1, 2, 3, 4, 5, 6, 8, 9]
    assert publisher.batches == [4, 4, 2]
    assert notifier.stats.events_dropped == 1
    envelope = decode(publisher.delivered[0].value)
    assert (envelope.tenant, envelope.subject, envelope.source) == ("acme", "0", "switchboard/ivr")
    assert publisher.delivered[0].key == b"acme"


async def test_the_notifier_counts_the_summary_figures_even_without_kafka() -> None:
    stats = IvrStats()
    notifier = RunNotifier(None, stats=stats)
    notifier.announce("acme", completed("1"), subject="1")
    notifier.announce("acme", completed("1", "hangup", "post_call"), subject="1")
    notifier.announce("acme", completed("2", "error"), subject="2")
    survey = SurveyCompleted(
        call_id="1", flow_id="f", survey_id="s", answers=[], complete=True, completed_at=AT
    )
    notifier.announce("acme", survey, subject="1")
    voicemail = VoicemailLeft(
        call_id="3",
        flow_id="f",
        mailbox="m",
        caller_number="+1",
        recording_path="/v.wav",
        duration_ms=1000,
        open_ticket=False,
        left_at=AT,
    )
    notifier.announce("acme", voicemail, subject="3")

    figures = stats.as_dict()
    assert (figures["ivr_completed"], figures["run_errors"]) == (2, 1)
    assert (figures["surveys"], figures["voicemails"]) == (1, 1)
    assert notifier.pending == 0


async def test_the_notifier_drops_rather_than_grows_without_bound() -> None:
    notifier = RunNotifier(FlakyPublisher(), max_pending=3)
    for index in range(5):
        notifier.announce("acme", completed(str(index)), subject=str(index))

    assert notifier.pending == 3
    assert notifier.stats.events_dropped == 2


def _request(url: str = "https://hooks.example/ivr", timeout_ms: int = 1000) -> HttpRequest:
    return HttpRequest(
        "POST",
        url,
        (("Content-Type", "application/json"), (SIGNATURE_HEADER, "sha256=abc")),
        b'{"call_id":"c1"}',
        timeout_ms,
    )


async def test_the_webhook_client_posts_the_signed_body_and_returns_the_answer() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"ok": True})

    client = WebhookClient(client=httpx.AsyncClient(transport=httpx.MockTransport(answer)))
    result = await client.send(_request())

    assert isinstance(result, HttpResponse)
    assert (result.status, json.loads(result.body)) == (201, {"ok": True})
    assert seen[0].headers[SIGNATURE_HEADER] == "sha256=abc"
    assert seen[0].content == b'{"call_id":"c1"}'


async def test_the_webhook_client_turns_failures_into_http_failed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async def stall(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200)

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 5000)

    refused = WebhookClient(client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)))
    stalled = WebhookClient(client=httpx.AsyncClient(transport=httpx.MockTransport(stall)))
    too_big = WebhookClient(
        max_bytes=1024, client=httpx.AsyncClient(transport=httpx.MockTransport(huge))
    )

    results = [
        await refused.send(_request()),
        await stalled.send(_request(timeout_ms=100)),
        await too_big.send(_request()),
    ]
    assert all(isinstance(result, HttpFailed) for result in results)
    reasons = [result.reason for result in results if isinstance(result, HttpFailed)]
    assert "ConnectError" in reasons[0]
    assert "100 ms" in reasons[1]
    assert "1024 bytes" in reasons[2]


def test_the_cli_prints_the_path_and_prompts_of_a_call() -> None:
    out = io.StringIO()
    status = cli.main(
        [
            "simulate",
            str(DEMO_FLOW),
            "--caller",
            "+15551234567",
            "--at",
            "2026-11-23T10:00:00+01:00",
            "--dtmf",
            "1",
            "--dtmf",
            "5",
            "--dtmf",
            "1",
        ],
        out,
    )

    lines = out.getvalue().splitlines()
    assert status == 0
    assert (
        lines[1] == "path: answer -> screen -> greeting -> hours -> main_menu -> orders -> "
        "queue_sales -> survey -> goodbye"
    )
    assert "prompt:survey_thanks" in lines[2]
    assert lines[3].startswith("outcome: hangup")


def test_the_cli_reads_hours_in_the_offset_of_the_call_time() -> None:
    out = io.StringIO()
    cli.main(
        [
            "simulate",
            str(DEMO_FLOW),
            "--caller",
            "+15551234567",
            "--at",
            "2026-11-23T08:30:00+01:00",
            "--json",
        ],
        out,
    )

    result = json.loads(out.getvalue())
    assert result["path"][-2:] == ["after_hours", "voicemail"]


def test_the_cli_names_node_and_field_of_an_invalid_flow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text(
        "id: broken\nstart: a\nnodes:\n  - {id: a, kind: menu, prompt: p, options: {'1': zz}}\n"
    )

    assert cli.main(["simulate", str(flow), "--caller", "+15551234567"]) == 1
    assert "node a, options.1: target zz does not exist" in capsys.readouterr().err


def test_the_switch_address_comes_from_the_platform_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SB_SWITCH_GRPC", "10.0.0.5:9101")
    monkeypatch.setenv("IVR_SWITCH_GRPC_NODES", '{"fs2": "10.0.0.6:9101"}')
    assert IvrSettings().switch_grpc == "10.0.0.5:9101"
    assert IvrSettings().switch_grpc_nodes == {"fs2": "10.0.0.6:9101"}
    monkeypatch.setenv("IVR_SWITCH_GRPC", "10.0.0.7:9101")
    assert IvrSettings().switch_grpc == "10.0.0.7:9101"
