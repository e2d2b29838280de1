"""`switchboard` command-line entry point."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from switchboard_cli.demo import SIMULATED_HANDLE_TIME_S
from switchboard_cli.supervisor import Supervisor, UpOptions


def _home(value: str | None) -> Path:
    return Path(value or os.environ.get("SWITCHBOARD_HOME") or ".switchboard")


def cmd_up(args: argparse.Namespace) -> int:
    options = UpOptions(
        home=_home(args.home),
        duration=args.duration,
        call_rate=args.call_rate,
        seed=args.seed,
        agents_per_tenant=args.agents,
        talk_time_s=args.talk_time,
    )
    return asyncio.run(Supervisor(options, out=lambda line: print(line, flush=True)).run())


def cmd_sim(args: argparse.Namespace) -> int:
    from switchboard_simulator.cli import main as simulator_main

    result: int = simulator_main(args.sim_args)
    return result


def cmd_tenants(args: argparse.Namespace) -> int:
    from switchboard_admin.cli import main as tenants_main

    result: int = tenants_main(args.tenant_args)
    return result


def cmd_flows(args: argparse.Namespace) -> int:
    from switchboard_ivr.cli import main as flows_main

    result: int = flows_main(args.flow_args)
    return result


def cmd_event_docs(args: argparse.Namespace) -> int:
    from switchboard_common.events.docs import write_event_docs

    written = write_event_docs(Path(args.out))
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from switchboard_cli.supervisor import SERVICES
    from switchboard_common import db

    names = [args.service] if args.service else [name for name, *_ in SERVICES]
    url = os.environ.get("DATABASE_URL", "")
    for name in names:
        service_url = url or f"sqlite+aiosqlite:///{(_home(None) / f'{name}.db').resolve()}"
        _home(None).mkdir(parents=True, exist_ok=True)
        db.upgrade_sync(name, f"switchboard_{name}", service_url)
        print(f"{name}: migrated")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Switchboard, a multi-tenant contact-center platform. "
        "`switchboard up` runs every service on this machine.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run every service on this machine (embedded broker, SQLite, simulator)",
        description="Start the broker (unless KAFKA_BOOTSTRAP_SERVERS is set), the FreeSWITCH "
        "simulator (unless FREESWITCH_ESL is set) and every service; print their "
        "ports and health; restart crashed ones; Ctrl-C stops everything. "
        "DATABASE_URL points the services at PostgreSQL instead of SQLite.",
    )
    up.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="run this long, then stop and print a `summary:` line",
    )
    up.add_argument(
        "--home", default=None, help="data folder (default: $SWITCHBOARD_HOME or ./.switchboard)"
    )
    up.add_argument(
        "--call-rate",
        type=float,
        default=0.5,
        metavar="CALLS_PER_S",
        help="simulated callers per second across demo tenants (default 0.5)",
    )
    up.add_argument(
        "--agents", type=int, default=5, help="simulated agents per demo tenant (default 5)"
    )
    up.add_argument("--seed", type=int, default=1, help="seed of the simulated world")
    up.add_argument(
        "--talk-time",
        type=float,
        default=SIMULATED_HANDLE_TIME_S,
        metavar="SECONDS",
        help="mean time a simulated agent's phone stays on a call before hanging up "
        f"(default {SIMULATED_HANDLE_TIME_S:g}); raise it to work calls yourself at the desktop",
    )
    up.set_defaults(func=cmd_up)

    sim = sub.add_parser(
        "sim", help="run the FreeSWITCH simulator alone (see `sim --help`)", add_help=False
    )
    sim.add_argument("sim_args", nargs=argparse.REMAINDER)
    sim.set_defaults(func=cmd_sim)

    tenants = sub.add_parser(
        "tenants",
        help="onboard and manage tenants: create|list|get|suspend|resume|delete "
        "(see `tenants --help`)",
        add_help=False,
    )
    tenants.add_argument("tenant_args", nargs=argparse.REMAINDER)
    tenants.set_defaults(func=cmd_tenants)

    flows = sub.add_parser(
        "flows",
        help="IVR flow tools, e.g. `flows simulate FLOW_FILE --caller ... --dtmf 1` "
        "(see `flows --help`)",
        add_help=False,
    )
    flows.add_argument("flow_args", nargs=argparse.REMAINDER)
    flows.set_defaults(func=cmd_flows)

    docs = sub.add_parser("event-docs", help="write AsyncAPI + JSON Schemas of every event")
    docs.add_argument("--out", default="docs/events", help="output folder (default docs/events)")
    docs.set_defaults(func=cmd_event_docs)

    migrate = sub.add_parser("migrate", help="apply Alembic migrations (DATABASE_URL or SQLite)")
    migrate.add_argument("service", nargs="?", help="one service (default: all)")
    migrate.set_defaults(func=cmd_migrate)
    return parser


def _passthrough(name: str, rest: list[str]) -> int:
    """Sub-tools with their own argument parsers get the rest of the command line untouched."""
    namespace = argparse.Namespace(sim_args=rest, tenant_args=rest, flow_args=rest)
    handlers = {"sim": cmd_sim, "tenants": cmd_tenants, "flows": cmd_flows}
    return handlers[name](namespace)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments and arguments[0] in ("sim", "tenants", "flows"):
        return _passthrough(arguments[0], arguments[1:])
    args = build_parser().parse_args(arguments)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
