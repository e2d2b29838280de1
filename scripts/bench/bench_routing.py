"""Routing domain benchmarks: 10,000 agents in 500 queues (each agent serves 3 queues).

    .venv/bin/python scripts/bench/bench_routing.py

- routing_decisions_per_s: full offer cycles per second in steady state with about half the
  agents busy: enqueue a call, `next_offers` (the decision and reservation), the answer,
  and later the agent back to available. Strategies cycle over the queues.
- routing_memory_per_waiting_call: bytes held per waiting call (tracemalloc), 20,000 calls
  waiting with announcements, an overflow rule and a max wait armed (their timers included).
- routing_domain_enqueue_to_offer_p99: 99th percentile wall time of the domain work between
  a call arriving and its offer: `enqueue` + `next_offers` for calls offered at once, or the
  `agent_changed` + `next_offers` that offered a call which had to wait. Poisson arrivals at
  100 calls/s of simulated time, 60 s handle time (about 60 % occupancy), 3 s to answer.
"""

from __future__ import annotations

import gc
import heapq
import random
import time
import tracemalloc
from collections import deque

from switchboard_routing.domain import (
    AgentState,
    AgentUpdate,
    Announcements,
    CallRequest,
    OfferOutcome,
    OverflowCondition,
    OverflowRule,
    OverflowTarget,
    QueueConfig,
    RoutingEngine,
    SkillRequirement,
    Strategy,
    TargetKind,
)

AGENTS = 10_000
QUEUES = 500
QUEUES_PER_AGENT = 3
SKILLS = ("en", "fr", "de", "es", "billing", "tech")
STRATEGIES = (
    Strategy.LONGEST_IDLE,
    Strategy.ROUND_ROBIN,
    Strategy.FEWEST_CALLS,
    Strategy.LEAST_TALK_TIME,
    Strategy.RANDOM,
    Strategy.TOP_DOWN,
    Strategy.SKILLS_BASED,
)
DECISION_SECONDS = 5.0
WAITING_CALLS = 20_000
ARRIVALS_PER_SECOND = 100.0
SIMULATED_SECONDS = 60.0
HANDLE_SECONDS = 60.0
ANSWER_SECONDS = 3.0


def queue_configs() -> list[QueueConfig]:
    configs = []
    for i in range(QUEUES):
        strategy = STRATEGIES[i % len(STRATEGIES)]
        skills = (SkillRequirement(SKILLS[i % len(SKILLS)], 2),) if i % 2 else ()
        configs.append(
            QueueConfig(
                queue_id=f"q{i}",
                strategy=strategy,
                priority=i % 3,
                required_skills=skills,
                announcements=Announcements(interval_seconds=60),
                max_wait_seconds=900,
                exit_target=OverflowTarget(TargetKind.VOICEMAIL),
                overflow_rules=(
                    OverflowRule(
                        OverflowCondition.AFTER_WAIT, OverflowTarget(TargetKind.CALLBACK), 300
                    ),
                ),
            )
        )
    return configs


def agent_profiles(rng: random.Random) -> list[tuple[str, tuple[str, ...], dict[str, int]]]:
    profiles = []
    for i in range(AGENTS):
        queues = tuple(sorted({f"q{rng.randrange(QUEUES)}" for _ in range(QUEUES_PER_AGENT)}))
        skills = {skill: rng.randint(1, 10) for skill in SKILLS}
        profiles.append((f"agent{i}", queues, skills))
    return profiles


def build_engine(
    state: AgentState, rng: random.Random
) -> tuple[RoutingEngine, list[tuple[str, tuple[str, ...], dict[str, int]]]]:
    engine = RoutingEngine("bench", epoch=1, rng=random.Random(1))
    for config in queue_configs():
        engine.configure_queue(config, 0.0)
    profiles = agent_profiles(rng)
    for agent_id, queues, skills in profiles:
        engine.agent_changed(
            AgentUpdate(agent_id, state, changed_at=0.0, skills=skills, queues=queues), 0.0
        )
    return engine, profiles


def decisions_per_second() -> float:
    rng = random.Random(42)
    engine, profiles = build_engine(AgentState.AVAILABLE, rng)
    served = {agent: queues for agent, queues, _ in profiles}
    skills = {agent: s for agent, _, s in profiles}
    queue_ids = sorted({q for _, queues, _ in profiles for q in queues})
    busy: deque[str] = deque()
    now, decisions, calls = 1.0, 0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < DECISION_SECONDS:
        for _ in range(200):
            now += 0.01
            calls += 1
            engine.enqueue(CallRequest(f"call{calls}", rng.choice(queue_ids), node_id="fs1"), now)
            for offer in engine.next_offers(now):
                engine.offer_result(offer.reservation_id, OfferOutcome.ANSWERED, now, epoch=1)
                busy.append(offer.agent_id)
                decisions += 1
            while len(busy) > AGENTS // 2:
                agent = busy.popleft()
                engine.agent_changed(
                    AgentUpdate(
                        agent,
                        AgentState.AVAILABLE,
                        changed_at=now,
                        skills=skills[agent],
                        queues=served[agent],
                        previous_state=AgentState.ON_CALL,
                        duration_in_previous_s=30.0,
                    ),
                    now,
                )
    return decisions / (time.perf_counter() - started)


def memory_per_waiting_call() -> float:
    rng = random.Random(7)
    engine, profiles = build_engine(AgentState.NOT_READY, rng)
    queue_ids = sorted({q for _, queues, _ in profiles for q in queues})
    picks = [
        (
            rng.choice(queue_ids),
            rng.randint(0, 3),
            rng.randint(0, 1),
            f"+3361{rng.randrange(10**7):07d}",
        )
        for _ in range(WAITING_CALLS)
    ]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i, (queue_id, priority, vip, caller) in enumerate(picks):
        engine.enqueue(
            CallRequest(
                f"waiting-call-{i:06d}",
                queue_id,
                node_id="fs-node-1",
                priority=priority,
                vip_level=vip,
                caller_number=caller,
            ),
            1.0 + i * 0.001,
        )
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    assert sum(len(engine.waiting_call_ids(q)) for q in queue_ids) == WAITING_CALLS
    return (after - before) / WAITING_CALLS


def enqueue_to_offer_p99_ms() -> float:
    rng = random.Random(99)
    engine, profiles = build_engine(AgentState.AVAILABLE, rng)
    served = {agent: queues for agent, queues, _ in profiles}
    skills = {agent: s for agent, _, s in profiles}
    queue_ids = sorted({q for _, queues, _ in profiles for q in queues})
    events: list[tuple[float, int, str, str]] = []
    seq = 0

    def schedule(at: float, kind: str, ref: str) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, ref))

    arrival, calls = 1.0, 0
    while arrival < 1.0 + SIMULATED_SECONDS:
        calls += 1
        schedule(arrival, "arrive", f"call{calls}")
        arrival += rng.expovariate(ARRIVALS_PER_SECOND)
    latencies: list[float] = []
    epoch = engine.epoch
    while events:
        now, _, kind, ref = heapq.heappop(events)
        started = time.perf_counter()
        if kind == "arrive":
            engine.enqueue(CallRequest(ref, rng.choice(queue_ids), node_id="fs1"), now)
        elif kind == "free":
            engine.agent_changed(
                AgentUpdate(
                    ref,
                    AgentState.AVAILABLE,
                    changed_at=now,
                    skills=skills[ref],
                    queues=served[ref],
                ),
                now,
            )
        else:
            resolution = engine.offer_result(ref, OfferOutcome.ANSWERED, now, epoch=epoch)
            assert resolution.answered_by is not None
            schedule(now + rng.expovariate(1 / HANDLE_SECONDS), "free", resolution.answered_by)
            continue
        offers = engine.next_offers(now)
        elapsed = time.perf_counter() - started
        if offers:
            latencies.append(elapsed)
        for offer in offers:
            schedule(now + ANSWER_SECONDS, "answer", offer.reservation_id)
        if kind == "arrive" and not offers:
            latencies.append(elapsed)
    latencies.sort()
    return latencies[int(len(latencies) * 0.99)] * 1000


def main() -> None:
    print(f"BENCH routing_decisions_per_s {decisions_per_second():.0f} decisions/s", flush=True)
    print(
        f"BENCH routing_memory_per_waiting_call {memory_per_waiting_call():.0f} bytes", flush=True
    )
    print(
        f"BENCH routing_domain_enqueue_to_offer_p99 {enqueue_to_offer_p99_ms():.3f} ms", flush=True
    )


if __name__ == "__main__":
    main()
