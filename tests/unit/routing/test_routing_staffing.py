"""Erlang B / C / A against published worked examples and against each other."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from switchboard_common.errors import ValidationFailed
from switchboard_routing.domain.staffing import (
    _served_within,
    agents_for_service_level,
    erlang_a,
    erlang_a_agents_for_service_level,
    erlang_b,
    erlang_c,
    erlang_c_metrics,
    traffic_erlangs,
)


def exact_erlang_c(traffic: int, agents: int) -> float:
    """Textbook formula with exact rationals (only usable for small cases)."""
    a = Fraction(traffic)
    top = a**agents / math.factorial(agents) * Fraction(agents) / (agents - a)
    return float(top / (sum(a**k / math.factorial(k) for k in range(agents)) + top))


def test_westbay_worked_example() -> None:
    """Westbay Engineers, "The Erlang-C formula" (westbay.ndirect.co.uk/erlang.htm), worked
    example: 360 calls per half hour, 4 minute calls, 55 agents, 15 s target answer time.
    Published: traffic 48 Erlangs, occupancy 87.3 %, probability of waiting 23.9 %,
    average speed of answer 8.2 s, service level 84.6 %."""
    traffic = traffic_erlangs(360, 1800, 240)
    assert traffic == 48
    figures = erlang_c_metrics(traffic, 55, handle_seconds=240, target_seconds=15)
    assert figures.occupancy == pytest.approx(0.873, abs=5e-4)
    assert figures.probability_of_waiting == pytest.approx(0.2387, abs=5e-5)
    assert figures.average_speed_of_answer == pytest.approx(8.2, abs=0.05)
    assert figures.service_level == pytest.approx(0.846, abs=5e-4)
    at_20s = erlang_c_metrics(traffic, 55, handle_seconds=240, target_seconds=20)
    assert at_20s.service_level == pytest.approx(0.8668, abs=5e-5)


def test_call_centre_helper_worked_example() -> None:
    """Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example":
    100 calls in 30 minutes, 180 s handle time, target 80 % in 20 s, 30 % shrinkage.
    Published: 10 Erlangs; with 11 agents P(wait) 68.21 %, service level 39.0 %;
    14 agents reach the target (88.8 %), 20 agents to schedule after shrinkage."""
    traffic = traffic_erlangs(100, 1800, 180)
    assert traffic == 10
    eleven = erlang_c_metrics(traffic, 11, handle_seconds=180, target_seconds=20)
    assert eleven.probability_of_waiting == pytest.approx(0.6821, abs=5e-5)
    assert eleven.service_level == pytest.approx(0.390, abs=5e-4)
    assert eleven.average_speed_of_answer == pytest.approx(122.8, abs=0.05)
    plan = agents_for_service_level(
        traffic, handle_seconds=180, target_seconds=20, service_level=0.8, shrinkage=0.3
    )
    assert (plan.agents, plan.scheduled_agents) == (14, 20)
    assert plan.figures.service_level == pytest.approx(0.888, abs=5e-4)
    below = erlang_c_metrics(traffic, 13, handle_seconds=180, target_seconds=20)
    assert below.service_level < 0.8


@pytest.mark.parametrize(("traffic", "agents"), [(1, 2), (5, 7), (10, 12), (20, 25), (48, 55)])
def test_erlang_c_matches_the_exact_formula(traffic: int, agents: int) -> None:
    assert erlang_c(traffic, agents) == pytest.approx(exact_erlang_c(traffic, agents), rel=1e-12)


@pytest.mark.parametrize(
    ("traffic", "lines", "blocking"),
    [
        (3.09, 10, 0.001),
        (4.46, 10, 0.01),
        (5.08, 10, 0.02),
        (6.22, 10, 0.05),
        (12.03, 20, 0.01),
    ],
)
def test_erlang_b_matches_the_published_table(traffic: float, lines: int, blocking: float) -> None:
    """Standard Erlang B table (as printed in ITU-T E.501-era traffic tables and the Westbay
    "Erlang B table"): offered traffic that 10 / 20 lines carry at a given grade of service;
    table values are rounded to 0.01 Erlang."""
    assert erlang_b(traffic, lines) == pytest.approx(blocking, rel=0.01)


def test_large_centres_are_computed_without_overflow() -> None:
    waiting = erlang_c(1000, 1050)
    assert 0 < waiting < 1
    plan = agents_for_service_level(1800, handle_seconds=300, target_seconds=20, service_level=0.9)
    assert 1800 < plan.agents < 1900
    assert plan.figures.service_level >= 0.9
    assert erlang_b(1500, 3000) < 1e-100


def test_overloaded_centre_has_everyone_waiting() -> None:
    figures = erlang_c_metrics(12, 10, handle_seconds=200, target_seconds=20)
    assert (figures.probability_of_waiting, figures.service_level) == (1.0, 0.0)
    assert math.isinf(figures.average_speed_of_answer)


def test_max_occupancy_can_drive_the_staffing() -> None:
    plan = agents_for_service_level(
        100, handle_seconds=300, target_seconds=60, service_level=0.5, max_occupancy=0.85
    )
    assert plan.figures.occupancy <= 0.85
    assert plan.agents == math.ceil(100 / 0.85)


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("service_level", {"service_level": 1.5}),
        ("shrinkage", {"service_level": 0.8, "shrinkage": 1.0}),
        ("handle_seconds", {"service_level": 0.8, "handle_seconds": 0}),
    ],
)
def test_bad_staffing_inputs_name_the_field(field: str, kwargs: dict[str, float]) -> None:
    arguments = {"handle_seconds": 180.0, "target_seconds": 20.0, **kwargs}
    with pytest.raises(ValidationFailed) as caught:
        agents_for_service_level(10, **arguments)
    assert caught.value.details["field"] == field


def test_erlang_a_with_endless_patience_is_erlang_c() -> None:
    """Palm's M/M/n+M tends to M/M/n as patience grows: compare with the Westbay example."""
    figures = erlang_a(
        arrival_rate=0.2, handle_seconds=240, patience_seconds=1e8, agents=55, target_seconds=15
    )
    assert figures.probability_of_waiting == pytest.approx(0.2387, abs=1e-4)
    assert figures.service_level == pytest.approx(0.8459, abs=1e-4)
    assert figures.average_wait_seconds == pytest.approx(8.184, abs=1e-3)
    assert figures.probability_of_abandon < 1e-6


def test_erlang_a_small_chain_matches_an_exact_solution() -> None:
    """Two agents, calls every 60 s, 90 s handling, 30 s patience, solved exactly by
    detailed balance with rationals over 200 states."""
    arrival, mu, theta, agents = Fraction(1, 60), Fraction(1, 90), Fraction(1, 30), 2
    weights = [Fraction(1)]
    for k in range(1, 200):
        weights.append(weights[-1] * arrival / (mu * min(k, agents) + theta * max(k - agents, 0)))
    total = sum(weights)
    waiting = float(sum(weights[agents:]) / total)
    queue = float(sum((k - agents) * w for k, w in enumerate(weights) if k > agents) / total)
    figures = erlang_a(
        arrival_rate=1 / 60, handle_seconds=90, patience_seconds=30, agents=2, target_seconds=10
    )
    assert figures.probability_of_waiting == pytest.approx(waiting, rel=1e-9)
    assert figures.probability_of_abandon == pytest.approx(float(theta) * queue * 60, rel=1e-9)
    served = (1 - figures.probability_of_abandon) / 60
    busy = float(sum(min(k, agents) * w for k, w in enumerate(weights)) / total)
    assert served == pytest.approx(busy / 90, rel=1e-9)


def test_answer_within_target_matches_closed_forms() -> None:
    """One caller ahead or none: hypo-exponential CDFs written out by hand."""
    service, theta, target = 0.05, 0.02, 12.0
    rate0, rate1 = service + theta, service + 2 * theta
    none_ahead = service / rate0 * (1 - math.exp(-rate0 * target))
    one_ahead = (
        (service / rate0)
        * ((service + theta) / rate1)
        * (
            1
            - (rate1 * math.exp(-rate0 * target) - rate0 * math.exp(-rate1 * target))
            / (rate1 - rate0)
        )
    )
    computed = _served_within(2, service, theta, target)
    assert computed == pytest.approx([none_ahead, one_ahead], rel=1e-9)


def test_erlang_a_needs_fewer_agents_than_erlang_c() -> None:
    figures = erlang_a_agents_for_service_level(
        arrival_rate=0.2,
        handle_seconds=240,
        patience_seconds=60,
        target_seconds=20,
        service_level=0.8,
    )
    erlang_c_plan = agents_for_service_level(
        48, handle_seconds=240, target_seconds=20, service_level=0.8
    )
    assert figures.service_level >= 0.8
    assert figures.agents <= erlang_c_plan.agents
    fewer = erlang_a(
        arrival_rate=0.2,
        handle_seconds=240,
        patience_seconds=60,
        agents=figures.agents - 1,
        target_seconds=20,
    )
    assert fewer.service_level < 0.8


def test_erlang_a_stays_finite_when_overloaded() -> None:
    figures = erlang_a(
        arrival_rate=1.0, handle_seconds=300, patience_seconds=120, agents=200, target_seconds=20
    )
    assert 0.2 < figures.probability_of_abandon < 0.5
    assert figures.occupancy == pytest.approx(1.0, abs=1e-3)
