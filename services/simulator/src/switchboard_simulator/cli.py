"""`python -m switchboard_simulator` (also `switchboard sim`): a simulated FreeSWITCH node."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
from pathlib import Path

from switchboard_common.errors import ValidationFailed
from switchboard_simulator.config import AgentEndpoint, TenantNumber, WorldConfig
from switchboard_simulator.simulator import Simulator, SimulatorConfig, run_simulator

__all__ = ["DEMO_TENANTS", "build_config", "demo_world", "main", "run_simulator"]

DEMO_TENANTS: tuple[tuple[str, str, str], ...] = (
    ("acme", "+12025550100", "acme.example"),
    ("globex", "+12025550200", "globex.example"),
)
"""(tenant, number, SIP domain) of the demo world used when no number is configured."""

DEMO_AGENTS_PER_TENANT = 5

EPILOG = """\
examples:
  python -m switchboard_simulator --esl-port 0 --duration 30 --call-rate 0.5
      demo tenants acme (+12025550100, agents 1001.. at acme.example) and globex
      (+12025550200, agents at globex.example); 0.5 new callers per second in total
  python -m switchboard_simulator --number 5000=acme --agents 1001@acme.example,1002@acme.example
  python -m switchboard_simulator --agents 5 --dialplan-url http://127.0.0.1:8108/v1/freeswitch/dialplan

Clients connect to the ESL port with password ClueCon (`--password`). With --stats-port,
GET /stats returns what really happened (calls placed, answered, bridged to an agent,
abandoned, ended per tenant and per agent) and GET /health answers 200.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m switchboard_simulator",
        description="A FreeSWITCH simulator speaking the real Event Socket protocol (inbound "
        "ESL, outbound `socket` mode, mod_xml_curl dialplan requests), with simulated "
        "callers (Poisson arrivals, patience, key presses) and agent endpoints.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--esl-port", type=int, default=8021, help="ESL port; 0 picks a free one (printed)"
    )
    parser.add_argument("--password", default="ClueCon", help="ESL password (default ClueCon)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same run)")
    parser.add_argument(
        "--call-rate",
        type=float,
        default=0.0,
        metavar="CALLS_PER_S",
        help="new callers per second in total, spread evenly over the numbers (default 0)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="seconds of traffic, then stop and print the truth report (default: forever)",
    )
    parser.add_argument("--speed", type=float, default=1.0, help="virtual seconds per real second")
    parser.add_argument(
        "--dialplan-url",
        default=None,
        help="mod_xml_curl style URL POSTed for every inbound call's dialplan; when it fails "
        "the static map is used and a warning logged",
    )
    parser.add_argument(
        "--dialplan-secret",
        default=os.environ.get("SWITCHBOARD_DIALPLAN_SECRET"),
        help="shared secret sent to the dialplan URL as HTTP basic auth (user `freeswitch`) "
        "and as the X-Switchboard-Secret header (default: $SWITCHBOARD_DIALPLAN_SECRET)",
    )
    parser.add_argument(
        "--tenants-file",
        type=Path,
        default=None,
        help='JSON: {"numbers": [{"number", "tenant", "calls_per_minute"}], '
        '"agents": [{"user", "domain", "registered", "outcome"}]}',
    )
    parser.add_argument(
        "--number",
        action="append",
        default=[],
        metavar="NUMBER=TENANT",
        help="a tenant number (repeatable); without any, the demo tenants are used",
    )
    parser.add_argument(
        "--agents",
        action="append",
        default=[],
        metavar="N|USER@DOMAIN[,...]",
        help="an integer: demo agents per demo tenant (default 5); or agent endpoints "
        "USER@DOMAIN (repeatable, comma-separated lists accepted)",
    )
    parser.add_argument(
        "--keys",
        default=None,
        metavar="DIGITS=WEIGHT[,...]",
        help="what a caller presses at each prompt, with weights, e.g. 1=5,2=3,9=1 "
        "(default 1=0.5,2=0.3,0=0.2)",
    )
    parser.add_argument(
        "--caller-pool",
        type=int,
        default=0,
        metavar="N",
        help="callers dial from N numbers, +12025551000 upwards (regulars a CRM can know); "
        "default: any +1202555xxxx",
    )
    parser.add_argument(
        "--handle-time",
        type=float,
        default=None,
        metavar="SECONDS",
        help="mean talk time of the agents before they hang up (default 120; demo 45)",
    )
    parser.add_argument(
        "--outbound-socket",
        default=None,
        metavar="HOST:PORT",
        help="run calls on numbers without their own actions through `socket HOST:PORT "
        "async full` (outbound ESL mode)",
    )
    parser.add_argument(
        "--stats-port",
        type=int,
        default=None,
        help="serve GET /stats and GET /health on this port; 0 picks a free one (printed)",
    )
    return parser


def _invalid(message: str, field: str, error_id: str) -> ValidationFailed:
    return ValidationFailed(message, field=field, error_id=error_id)


def demo_world(agents_per_tenant: int, calls_per_minute: float) -> WorldConfig:
    """The demo tenants with `agents_per_tenant` answering agents each (1001, 1002...)."""
    numbers: list[TenantNumber] = []
    agents: list[AgentEndpoint] = []
    for tenant, number, domain in DEMO_TENANTS:
        numbers.append(TenantNumber(number, tenant, calls_per_minute=calls_per_minute))
        agents += [
            AgentEndpoint(str(1001 + index), domain, handle_time_mean_s=45.0)
            for index in range(agents_per_tenant)
        ]
    return WorldConfig(numbers=numbers, agents=agents, default_domain=DEMO_TENANTS[0][2])


def _agents(values: list[str]) -> tuple[int | None, list[AgentEndpoint]]:
    count: int | None = None
    endpoints: list[AgentEndpoint] = []
    for group in values:
        if group.strip().isdigit():
            count = int(group)
            continue
        for item in filter(None, (part.strip() for part in group.split(","))):
            user, sep, domain = item.partition("@")
            if not sep or not user or not domain:
                raise _invalid(
                    f"--agents expects a count or USER@DOMAIN, got {item!r}",
                    "agents",
                    "invalid-agent-endpoint",
                )
            endpoints.append(AgentEndpoint(user, domain))
    return count, endpoints


def _key_weights(text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        digits, sep, weight = item.partition("=")
        try:
            value = float(weight)
        except ValueError:
            value = -1.0
        if not sep or not digits or any(d not in "0123456789*#" for d in digits) or value < 0:
            raise _invalid(
                f"--keys expects DIGITS=WEIGHT pairs, got {item!r}", "keys", "invalid-keys"
            )
        weights[digits] = value
    if not weights or sum(weights.values()) <= 0:
        raise _invalid("--keys needs at least one positive weight", "keys", "invalid-keys")
    return weights


def build_config(argv: list[str] | None = None) -> SimulatorConfig:
    """Turn command-line arguments into a `SimulatorConfig`."""
    args = _parser().parse_args(argv)
    if args.call_rate < 0:
        raise _invalid("--call-rate must not be negative", "call_rate", "invalid-call-rate")
    numbers: list[TenantNumber] = []
    agent_count, agents = _agents(args.agents)
    if args.tenants_file is not None:
        document = json.loads(args.tenants_file.read_text())
        for item in document.get("numbers", []):
            numbers.append(
                TenantNumber(
                    number=str(item["number"]),
                    tenant=str(item["tenant"]),
                    calls_per_minute=float(item.get("calls_per_minute", 0.0)),
                )
            )
        for item in document.get("agents", []):
            agents.append(
                AgentEndpoint(
                    user=str(item["user"]),
                    domain=str(item["domain"]),
                    registered=bool(item.get("registered", True)),
                    outcome=str(item.get("outcome", "answer")),
                )
            )
    for pair in args.number:
        number, sep, tenant = pair.partition("=")
        if not sep or not number or not tenant:
            raise _invalid(
                f"--number expects NUMBER=TENANT, got {pair!r}", "number", "invalid-number-mapping"
            )
        numbers.append(TenantNumber(number, tenant))
    if numbers:
        world = WorldConfig(numbers=numbers, agents=agents)
    else:
        world = demo_world(DEMO_AGENTS_PER_TENANT if agent_count is None else agent_count, 0.0)
        world.agents += agents
    if args.call_rate > 0:
        per_number = args.call_rate * 60.0 / len(world.numbers)
        for number in world.numbers:
            if number.calls_per_minute == 0:
                number.calls_per_minute = per_number
    if args.keys is not None:
        world.callers.dtmf_choices = _key_weights(args.keys)
    if not 0 <= args.caller_pool <= 9000:
        raise _invalid("--caller-pool must be 0 to 9000", "caller_pool", "invalid-caller-pool")
    world.callers.pool = args.caller_pool
    if args.handle_time is not None:
        if args.handle_time <= 0:
            raise _invalid("--handle-time must be positive", "handle_time", "invalid-handle-time")
        for agent in world.agents:
            agent.handle_time_mean_s = args.handle_time
    if args.outbound_socket:
        for number in world.numbers:
            if number.actions is None:
                number.actions = [("socket", f"{args.outbound_socket} async full")]
    world.seed = args.seed
    world.outbound_socket = args.outbound_socket
    return SimulatorConfig(
        world=world,
        host=args.host,
        esl_port=args.esl_port,
        password=args.password,
        speed=args.speed,
        dialplan_url=args.dialplan_url,
        dialplan_secret=args.dialplan_secret or None,
        stats_port=args.stats_port,
        duration_s=args.duration,
    )


def main(argv: list[str] | None = None) -> int:
    """Run until interrupted (or for `--duration`); print where it listens, then the truth."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = build_config(argv)
    except ValidationFailed as error:
        print(f"error: {error.message}")
        return 2

    async def run() -> Simulator:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if config.duration_s is not None:
            loop.call_later(config.duration_s / max(config.speed, 1e-9) + 1, stop.set)
        simulator = Simulator(config)
        await simulator.start()
        print(f"simulator: ESL on {config.host}:{simulator.esl_port}", flush=True)
        if simulator.stats_port is not None:
            print(
                f"simulator: stats on http://{config.host}:{simulator.stats_port}/stats",
                flush=True,
            )
        tenants = sorted({number.tenant for number in config.world.numbers})
        print(
            f"simulator: {len(config.world.numbers)} numbers ({', '.join(tenants)}), "
            f"{len(config.world.agents)} agents",
            flush=True,
        )
        try:
            await stop.wait()
        finally:
            await simulator.stop()
        return simulator

    simulator = asyncio.run(run())
    print(json.dumps(simulator.world.truth.report(), sort_keys=True), flush=True)
    return 0
