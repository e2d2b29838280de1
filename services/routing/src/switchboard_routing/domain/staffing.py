"""Staffing maths: Erlang B, Erlang C (M/M/n) and Erlang A (M/M/n+M, callers abandon).

Numerically stable for thousands of agents: Erlang B by its recursion
B(0) = 1, B(k) = A*B(k-1) / (k + A*B(k-1)) (no factorials, no powers), Erlang C from Erlang B,
Erlang A from its birth-death chain solved in log space and truncated where the remaining
probability is below 1e-15 of the peak.

Units: traffic in Erlangs (arrival rate * handle time), times in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from switchboard_common.errors import ValidationFailed

MAX_ERLANG_A_STATES = 500_000
_LOG_TOLERANCE = math.log(1e-15)


def _check(field: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValidationFailed(
            f"{field} must be a finite number {bound}",
            field=field,
            error_id="invalid-staffing-input",
        )


def traffic_erlangs(calls: float, period_seconds: float, handle_seconds: float) -> float:
    """Offered traffic: `calls` arriving in `period_seconds`, each taking `handle_seconds`."""
    _check("calls", calls)
    _check("period_seconds", period_seconds, positive=True)
    _check("handle_seconds", handle_seconds, positive=True)
    return calls * handle_seconds / period_seconds


def erlang_b(traffic: float, agents: int) -> float:
    """Blocking probability of `agents` servers offered `traffic` Erlangs (no queue)."""
    _check("traffic", traffic)
    _check("agents", agents)
    blocking = 1.0
    for k in range(1, agents + 1):
        blocking = traffic * blocking / (k + traffic * blocking)
    return blocking


def _erlang_c_from_b(traffic: float, agents: int, blocking: float) -> float:
    if agents <= traffic:
        return 1.0
    return agents * blocking / (agents - traffic * (1.0 - blocking))


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call waits (all agents busy); 1.0 when agents <= traffic."""
    return _erlang_c_from_b(traffic, agents, erlang_b(traffic, agents))


@dataclass(frozen=True, slots=True)
class ErlangCResult:
    traffic: float
    agents: int
    probability_of_waiting: float
    service_level: float
    """Share of calls answered within the target answer time."""
    average_speed_of_answer: float
    """Mean wait over all calls, seconds (inf when agents <= traffic)."""
    occupancy: float


def _erlang_c_result(
    traffic: float, agents: int, handle_seconds: float, target_seconds: float, blocking: float
) -> ErlangCResult:
    waiting = _erlang_c_from_b(traffic, agents, blocking)
    if agents <= traffic:
        return ErlangCResult(traffic, agents, 1.0, 0.0, math.inf, 1.0)
    surplus = agents - traffic
    return ErlangCResult(
        traffic=traffic,
        agents=agents,
        probability_of_waiting=waiting,
        service_level=1.0 - waiting * math.exp(-surplus * target_seconds / handle_seconds),
        average_speed_of_answer=waiting * handle_seconds / surplus,
        occupancy=traffic / agents,
    )


def erlang_c_metrics(
    traffic: float, agents: int, *, handle_seconds: float, target_seconds: float
) -> ErlangCResult:
    """Erlang C figures for `agents` agents (no abandonment, no retrials)."""
    _check("handle_seconds", handle_seconds, positive=True)
    _check("target_seconds", target_seconds)
    return _erlang_c_result(
        traffic, agents, handle_seconds, target_seconds, erlang_b(traffic, agents)
    )


@dataclass(frozen=True, slots=True)
class StaffingPlan:
    agents: int
    """Agents needed on the phones."""
    scheduled_agents: int
    """Agents to schedule so that `agents` remain after shrinkage."""
    figures: ErlangCResult


def agents_for_service_level(
    traffic: float,
    *,
    handle_seconds: float,
    target_seconds: float,
    service_level: float,
    shrinkage: float = 0.0,
    max_occupancy: float = 1.0,
) -> StaffingPlan:
    """Fewest agents giving at least `service_level` (0..1] of calls answered within
    `target_seconds`, with occupancy at most `max_occupancy`; then grossed up for
    `shrinkage` (breaks, training, absence: 0..1)."""
    _check("traffic", traffic)
    _check("handle_seconds", handle_seconds, positive=True)
    _check("target_seconds", target_seconds)
    if not 0 < service_level < 1:
        raise ValidationFailed(
            "service_level must be within (0, 1)",
            field="service_level",
            error_id="invalid-staffing-input",
        )
    if not 0 <= shrinkage < 1:
        raise ValidationFailed(
            "shrinkage must be within [0, 1)", field="shrinkage", error_id="invalid-staffing-input"
        )
    if not 0 < max_occupancy <= 1:
        raise ValidationFailed(
            "max_occupancy must be within (0, 1]",
            field="max_occupancy",
            error_id="invalid-staffing-input",
        )
    blocking, agents = 1.0, 0
    while True:
        agents += 1
        blocking = traffic * blocking / (agents + traffic * blocking)
        if agents <= traffic:
            continue
        figures = _erlang_c_result(traffic, agents, handle_seconds, target_seconds, blocking)
        if figures.service_level >= service_level and figures.occupancy <= max_occupancy:
            scheduled = math.ceil(agents / (1.0 - shrinkage) - 1e-9)
            return StaffingPlan(agents=agents, scheduled_agents=scheduled, figures=figures)


@dataclass(frozen=True, slots=True)
class ErlangAResult:
    agents: int
    probability_of_waiting: float
    probability_of_abandon: float
    service_level: float
    """Share of all offered calls answered within the target answer time."""
    average_wait_seconds: float
    """Mean time in queue over all callers (served or abandoning)."""
    occupancy: float
    states: int
    """Number of chain states kept after truncation."""


def erlang_a(
    *,
    arrival_rate: float,
    handle_seconds: float,
    patience_seconds: float,
    agents: int,
    target_seconds: float,
) -> ErlangAResult:
    """Erlang A (Palm's M/M/n+M): calls arrive at `arrival_rate` per second, take
    exponential `handle_seconds`, and abandon after an exponential patience of mean
    `patience_seconds` if not answered first."""
    _check("arrival_rate", arrival_rate, positive=True)
    _check("handle_seconds", handle_seconds, positive=True)
    _check("patience_seconds", patience_seconds, positive=True)
    _check("agents", agents)
    _check("target_seconds", target_seconds)
    mu, theta = 1.0 / handle_seconds, 1.0 / patience_seconds
    distribution = _erlang_a_distribution(arrival_rate, mu, theta, agents)
    queue_lengths = distribution[agents:]
    waiting = sum(queue_lengths)
    mean_queue = sum(j * p for j, p in enumerate(queue_lengths))
    abandon = theta * mean_queue / arrival_rate
    served_in_time = sum(distribution[:agents])
    if queue_lengths:
        within = _served_within(len(queue_lengths), agents * mu, theta, target_seconds)
        served_in_time += sum(p * w for p, w in zip(queue_lengths, within, strict=True))
    occupancy = arrival_rate * (1.0 - abandon) * handle_seconds / agents if agents else 1.0
    return ErlangAResult(
        agents=agents,
        probability_of_waiting=waiting,
        probability_of_abandon=abandon,
        service_level=min(1.0, served_in_time),
        average_wait_seconds=mean_queue / arrival_rate,
        occupancy=min(1.0, occupancy),
        states=len(distribution),
    )


def _erlang_a_distribution(arrival: float, mu: float, theta: float, agents: int) -> list[float]:
    """Stationary probabilities of k calls in system, k = 0..K (birth-death, log space)."""
    log_arrival = math.log(arrival)
    logs = [0.0]
    peak = 0.0
    k = 0
    while True:
        k += 1
        death = mu * min(k, agents) + theta * max(k - agents, 0)
        logs.append(logs[-1] + log_arrival - math.log(death))
        peak = max(peak, logs[-1])
        if k >= agents and death > arrival and logs[-1] - peak < _LOG_TOLERANCE:
            break
        if k >= MAX_ERLANG_A_STATES:
            raise ValidationFailed(
                "Erlang A chain too long: patience too long for the load",
                field="patience_seconds",
                error_id="invalid-staffing-input",
            )
    weights = [math.exp(v - peak) for v in logs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def _served_within(positions: int, service_rate: float, theta: float, target: float) -> list[float]:
    """P(answered within `target`) for a caller arriving with j = 0..positions-1 calls ahead.

    The caller moves up at rate n*mu + m*theta with m calls ahead and abandons at rate theta:
    it is answered with probability prod r_m / (r_m + theta), and the time this takes is a
    sum of exponentials of rates r_m + theta, whose CDF is computed by uniformization
    (only positive terms, so it is stable for hundreds of phases)."""
    rates = [service_rate + (m + 1) * theta for m in range(positions)]
    answered = []
    product = 1.0
    for m in range(positions):
        progress = service_rate + m * theta
        product *= progress / (progress + theta)
        answered.append(product)
    if target == 0:
        return [0.0] * positions
    uniform = rates[-1]
    mean_steps = uniform * target
    steps = int(mean_steps + 12 * math.sqrt(mean_steps) + 30)
    stay = [1.0 - r / uniform for r in rates]
    absorbed = [0.0] * positions
    cdf = [0.0] * positions
    log_mean = math.log(mean_steps)
    for step in range(1, steps + 1):
        previous = absorbed
        absorbed = [
            (1.0 - stay[m]) * (previous[m - 1] if m else 1.0) + stay[m] * previous[m]
            for m in range(positions)
        ]
        weight = math.exp(-mean_steps + step * log_mean - math.lgamma(step + 1))
        if weight:
            cdf = [c + weight * a for c, a in zip(cdf, absorbed, strict=True)]
    return [min(1.0, c) * a for c, a in zip(cdf, answered, strict=True)]


def erlang_a_agents_for_service_level(
    *,
    arrival_rate: float,
    handle_seconds: float,
    patience_seconds: float,
    target_seconds: float,
    service_level: float,
    max_abandon: float = 1.0,
) -> ErlangAResult:
    """Fewest agents meeting the service level (and an abandonment ceiling) under Erlang A."""
    if not 0 < service_level < 1:
        raise ValidationFailed(
            "service_level must be within (0, 1)",
            field="service_level",
            error_id="invalid-staffing-input",
        )

    def good(n: int) -> tuple[bool, ErlangAResult]:
        figures = erlang_a(
            arrival_rate=arrival_rate,
            handle_seconds=handle_seconds,
            patience_seconds=patience_seconds,
            agents=n,
            target_seconds=target_seconds,
        )
        return (
            figures.service_level >= service_level and figures.probability_of_abandon <= max_abandon
        ), figures

    low, high = 0, 1
    ok, best = good(high)
    while not ok:
        low, high = high, high * 2
        ok, best = good(high)
    while high - low > 1:
        middle = (low + high) // 2
        ok, figures = good(middle)
        if ok:
            high, best = middle, figures
        else:
            low = middle
    return best
