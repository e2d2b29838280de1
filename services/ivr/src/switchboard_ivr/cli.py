"""Offline flow tester: `simulate FLOW_FILE --caller +1555... --at ... --dtmf 1 --dtmf 2`.

Runs a flow document (JSON or YAML) through the same interpreter and `simulate` as
`POST /v1/flows/{id}/simulate` and prints the path taken and the prompts played. Opening
hours are read in the time zone of `--at` unless `--timezone` names one; calendars come from
`--calendar ID=FILE` (BusinessCalendar JSON/YAML), else the demo's `business-hours`.
`switchboard flows simulate ...` calls `main(["simulate", ...])`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, TextIO

import yaml

from switchboard_common.business_hours import BusinessCalendar
from switchboard_common.errors import AppError
from switchboard_ivr.domain import (
    HANG_UP,
    CalendarPort,
    HttpFailed,
    HttpResponse,
    OpenState,
    SimulationResult,
    check_flow,
    demo_calendar,
    simulate,
)
from switchboard_ivr.domain.simulate import HttpStub
from switchboard_ivr.services import TenantCalendars


class _ReadAt:
    """Asks a calendar about the time read at a fixed offset (the offset of `--at`)."""

    def __init__(self, inner: CalendarPort, zone: tzinfo) -> None:
        self._inner = inner
        self._zone = zone

    def is_open(self, calendar_id: str, at: datetime) -> OpenState:
        return self._inner.is_open(calendar_id, at.astimezone(self._zone))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard flows", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sim = commands.add_parser("simulate", help="run a flow file with scripted caller input")
    sim.add_argument("flow_file", type=Path, help="flow document, JSON or YAML")
    sim.add_argument("--caller", required=True, help="caller number, e.g. +15551234567")
    sim.add_argument("--called", default="", help="the number dialled")
    sim.add_argument(
        "--at", type=datetime.fromisoformat, help="time of the call (ISO 8601 with offset); now"
    )
    sim.add_argument(
        "--dtmf",
        action="append",
        default=[],
        help=f"the caller's next entry (repeat); '' is silence, {HANG_UP!r} hangs up",
    )
    sim.add_argument(
        "--http",
        action="append",
        default=[],
        metavar="NODE=ANSWER",
        help="webhook answer of an http node: a JSON object, @file.json, or 'fail'",
    )
    sim.add_argument(
        "--crm", action="append", default=[], metavar="KEY=VALUE", help="CRM field (JSON value)"
    )
    sim.add_argument(
        "--calendar",
        action="append",
        default=[],
        metavar="ID=FILE",
        help="a business-hours calendar (timezone, weekly, holidays) as JSON or YAML",
    )
    sim.add_argument("--timezone", default=None, help="tenant time zone (IANA) for time.*")
    sim.add_argument("--language", default="en", help="language of the call")
    sim.add_argument("--caller-hangs-up-first", action="store_true", help="after a queue node")
    sim.add_argument("--json", action="store_true", help="print the full result as JSON")
    return parser


def _pairs(items: Sequence[str], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"{option} expects KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def _http_stubs(items: Sequence[str]) -> dict[str, HttpStub]:
    stubs: dict[str, HttpStub] = {}
    for node, text in _pairs(items, "--http").items():
        if text == "fail":
            stubs[node] = HttpFailed("failure asked on the command line")
            continue
        raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
        data = json.loads(raw)
        stubs[node] = data if isinstance(data, dict) else HttpResponse(200, raw)
    return stubs


def _crm(items: Sequence[str]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, text in _pairs(items, "--crm").items():
        try:
            record[key] = json.loads(text)
        except json.JSONDecodeError:
            record[key] = text
    return record


def _calendars(items: Sequence[str], zone: tzinfo) -> CalendarPort:
    if not items:
        return _ReadAt(demo_calendar(), zone)
    calendars: dict[str, BusinessCalendar] = {}
    for calendar_id, file in _pairs(items, "--calendar").items():
        data: Mapping[str, Any] = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        calendars[calendar_id] = BusinessCalendar.parse(data)
    return TenantCalendars(calendars, {})


def _print(result: SimulationResult, flow_id: str, out: TextIO) -> None:
    outcome = result.outcome
    out.write(f"flow: {flow_id}\n")
    out.write(f"path: {' -> '.join(result.path)}\n")
    out.write(f"prompts: {', '.join(result.prompts) or '(none)'}\n")
    if outcome is not None:
        where = f"last node {outcome.last_node}"
        extra = outcome.queue_id or outcome.transferred_to or outcome.hangup_cause
        out.write(f"outcome: {outcome.exit_reason} ({where}{', ' + extra if extra else ''})\n")
    for warning in result.warnings:
        out.write(f"warning: {warning.code} at {warning.node}: {warning.detail}\n")


def run_simulate(args: argparse.Namespace, out: TextIO) -> int:
    at: datetime = args.at or datetime.now(UTC)
    if at.tzinfo is None:
        raise ValueError("--at needs an offset, e.g. 2026-11-23T10:00:00+01:00")
    zone = at.tzinfo
    flow = check_flow(args.flow_file.read_bytes())
    result = simulate(
        flow,
        args.caller,
        at,
        [entry or None for entry in args.dtmf],
        _http_stubs(args.http),
        _calendars(args.calendar, zone),
        _crm(args.crm),
        called_number=args.called,
        language=args.language,
        timezone=args.timezone or "UTC",
        agent_hangs_up_first=not args.caller_hangs_up_first,
    )
    if args.json:
        out.write(json.dumps({"flow_id": flow.id, **result.to_dict()}, indent=2) + "\n")
    else:
        _print(result, flow.id, out)
    return 0


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Exit status: 0 done, 1 invalid flow or input, 2 usage error."""
    stream = out or sys.stdout
    args = _parser().parse_args(list(argv) if argv is not None else None)
    try:
        return run_simulate(args, stream)
    except AppError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        for item in exc.details.get("problems", []):
            sys.stderr.write(f"  node {item['node']}, {item['field']}: {item['problem']}\n")
        return 1
    except (OSError, ValueError, yaml.YAMLError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
