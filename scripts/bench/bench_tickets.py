"""Benchmarks of the tickets service against PostgreSQL, at a million customers and tickets.

Creates a throwaway database (PG_ADMIN_URL, default postgres@127.0.0.1), migrates it,
bulk-loads 1,000,000 customers (with their numbers) and 1,000,000 tickets server-side
(INSERT ... SELECT generate_series, secondary indexes built after the load), then measures
through the service's own code paths, as the application role (row-level security on):

- `phone_index_gets_per_s`: the in-process index alone (number -> customer id);
- `customer_lookup_cold_p99`: CustomersService.lookup on a cache miss (number -> customer
  via the warmed in-process index, then card, open tickets and latest contacts read from
  the database in one statement; or the owner asked of the database for an unknown number);
- `customer_lookup_p99` / `customer_lookups_per_s`: the same call with a warm look-up
  cache (listening for changes, as deployed): 90 % numbers of a hot set of 10,000 customers,
  10 % repeat callers without a record;
- `ticket_search_p99`: TicketsService.search with realistic filters and free text in the
  largest tenant (500,000 tickets).

Prints progress on stderr and `BENCH <name> <value> <unit>` lines on stdout; about 2-3
minutes on two cores. `--keep` leaves the database for inspection.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from switchboard_common import db
from switchboard_common.testing.postgres import ADMIN_URL, create_database, drop_database
from switchboard_tickets.domain import TicketSearchQuery
from switchboard_tickets.main import TicketsApp, assemble
from switchboard_tickets.settings import TicketsSettings

CUSTOMERS = 1_000_000
TICKETS = 1_000_000
TENANTS = 10
BIG_TENANT_SHARE = 0.5
"""Tenant 0 holds half of the rows; the nine others share the rest."""
AGENTS = 200
DEPARTMENTS = 10
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
VOCABULARY = """
printer invoice payment refund login password account delivery order shipping broken missing
wrong late damaged cancel upgrade downgrade contract renewal router wifi internet outage slow
error crash update install license billing charge card bank transfer address phone email
change reset unlock blocked screen battery charger cable warranty repair replacement return
parcel tracking discount coupon price quote subscription plan trial export import report data
backup restore sync calendar meeting invite access permission role user admin
"""
WORDS = tuple(VOCABULARY.split())
"""Words of ticket subjects and descriptions (each text also carries an order reference and
a customer reference, rare words)."""
TABLES = ("tickets_customers", "tickets_customer_phones", "tickets_tickets")


def log(message: str) -> None:
    print(f"[bench_tickets] {message}", file=sys.stderr, flush=True)


def tenant_name(index: int) -> str:
    return f"bench{index:02d}"


def tenant_rows(total: int) -> list[tuple[str, int, int]]:
    """(tenant, first row number, count): tenant 0 the big share, the others equal parts."""
    big = int(total * BIG_TENANT_SHARE)
    rest = total - big
    layout = [(tenant_name(0), 0, big)]
    start = big
    for index in range(1, TENANTS):
        count = rest // (TENANTS - 1) + (1 if index <= rest % (TENANTS - 1) else 0)
        layout.append((tenant_name(index), start, count))
        start += count
    return layout


def phone_of(row: int) -> str:
    """French mobile numbers +33 6 00 00 00 00 upwards: valid and distinct."""
    return f"+336{row:08d}"


def _word(seed: str) -> str:
    return f"(ARRAY[{', '.join(repr(w) for w in WORDS)}])[1 + ({seed}) % {len(WORDS)}]"


def _words(count: int, salt: int) -> str:
    parts = [_word(f"abs(hashint4(g * {31 + salt} + {i * 7919}))") for i in range(count)]
    return " || ' ' || ".join(parts)


async def _indexes(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    """Secondary indexes of the loaded tables (not those backing constraints)."""
    rows = await connection.fetch(
        """
        SELECT indexname, indexdef FROM pg_indexes
        WHERE tablename = ANY($1::text[])
          AND indexname NOT IN (SELECT conname FROM pg_constraint)
        """,
        list(TABLES),
    )
    return [(row["indexname"], row["indexdef"]) for row in rows]


async def load(url: str) -> None:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SET maintenance_work_mem = '512MB'")
        await connection.execute("SET synchronous_commit = off")
        indexes = await _indexes(connection)
        for name, _ in indexes:
            await connection.execute(f'DROP INDEX "{name}"')
        began = time.perf_counter()
        for tenant, first, count in tenant_rows(CUSTOMERS):
            await connection.execute(
                f"""
                INSERT INTO tickets_customers
                SELECT md5('c' || g)::uuid::text, '{tenant}', 'Customer ' || g, '',
                       'customer', json_build_array('+336' || lpad(g::text, 8, '0')),
                       '[]'::json, '[]'::json, g % 4,
                       CASE WHEN g % 3 = 0 THEN 'agent-' || (g % {AGENTS}) END,
                       '{{}}'::json,
                       $1::timestamptz + g * interval '1 minute',
                       $1::timestamptz + g * interval '1 minute', 1
                FROM generate_series({first}, {first + count - 1}) AS g
                """,
                EPOCH,
            )
        await connection.execute(
            """
            INSERT INTO tickets_customer_phones
            SELECT tenant_id, phones->>0, id, false, created_at FROM tickets_customers
            """
        )
        log(f"{CUSTOMERS:,} customers and numbers in {time.perf_counter() - began:.1f}s")
        began = time.perf_counter()
        span_minutes = int((NOW - EPOCH).total_seconds() // 60)
        for tenant, first, count in tenant_rows(TICKETS):
            customers = next(c for t, _, c in tenant_rows(CUSTOMERS) if t == tenant)
            customer_first = next(f for t, f, _ in tenant_rows(CUSTOMERS) if t == tenant)
            await connection.execute(
                f"""
                INSERT INTO tickets_tickets (
                    id, tenant_id, sequence, number, subject, description, category,
                    customer_id, department_id, assignee_id, urgency, impact, priority,
                    priority_overridden, status, created_at, updated_at, version,
                    reopen_count)
                SELECT md5('t' || g)::uuid::text, '{tenant}', g - {first} + 1,
                       'T-' || lpad((g - {first} + 1)::text, 6, '0'),
                       initcap({_words(4, 1)}),
                       {_words(14, 2)} || ' order ord' || (abs(hashint4(g * 13)) % 1000000)
                           || ' customer ' || (ARRAY['martin','bernard','dubois','thomas',
                              'robert','richard','petit','durand'])[1 + abs(hashint4(g)) % 8]
                           || lpad((abs(hashint4(g * 17)) % 5000)::text, 4, '0'),
                       (ARRAY['general','billing','hardware','network','account',
                              'delivery','returns','sales'])[1 + abs(hashint4(g)) % 8],
                       CASE WHEN g % 5 <> 0 THEN md5('c' || ({customer_first}
                            + abs(hashint4(g * 7)) % {customers}))::uuid::text END,
                       'dept-' || (g % {DEPARTMENTS}),
                       CASE WHEN g % 5 <> 1 THEN 'agent-' || (abs(hashint4(g * 3)) % {AGENTS})
                       END,
                       'medium', 'medium',
                       (ARRAY['P1','P2','P3','P3','P4'])[1 + abs(hashint4(g * 5)) % 5], false,
                       CASE WHEN g % 5 = 1 THEN 'new'
                            ELSE (ARRAY['assigned','in_progress','pending_customer',
                                        'resolved','closed','closed','closed','closed'])
                                 [1 + abs(hashint4(g * 11)) % 8] END,
                       $1::timestamptz + (g - {first}) * ({span_minutes}.0 / {count})
                           * interval '1 minute',
                       $1::timestamptz + (g - {first}) * ({span_minutes}.0 / {count})
                           * interval '1 minute', 1, 0
                FROM generate_series({first}, {first + count - 1}) AS g
                """,
                EPOCH,
            )
            await connection.execute(
                """
                INSERT INTO tickets_sequences VALUES ($1, $2)
                ON CONFLICT (tenant_id) DO UPDATE SET last_value = EXCLUDED.last_value
                """,
                tenant,
                count,
            )
            log(f"  tickets of {tenant}: {count:,}")
        log(f"{TICKETS:,} tickets in {time.perf_counter() - began:.1f}s")
        began = time.perf_counter()
        for name, definition in indexes:
            await connection.execute(definition)
            log(f"  index {name} built")
        await connection.execute("ANALYZE tickets_customers, tickets_customer_phones")
        await connection.execute("ANALYZE tickets_tickets")
        log(f"indexes and statistics in {time.perf_counter() - began:.1f}s")
    finally:
        await connection.close()


async def timed(calls: list[Callable[[], Awaitable[Any]]]) -> list[float]:
    durations = []
    for call in calls:
        began = time.perf_counter()
        await call()
        durations.append((time.perf_counter() - began) * 1000)
    return durations


def p99(durations: list[float]) -> float:
    return statistics.quantiles(durations, n=100, method="inclusive")[98]


HOT_CUSTOMERS = 10_000
"""Customers looked up again and again (today's callers), out of the million."""
UNKNOWN_CALLERS = 1_000
"""Numbers without a record that call again (they are 10 % of the hot look-ups)."""


async def bench_lookups(service: TicketsApp, rng: random.Random) -> None:
    """The look-up path with the cache as deployed (listening for changes): cold look-ups
    (first sight of a customer or of an unknown number) fill it, then the hot mix (90 %
    known callers of the hot set, 10 % repeat callers without a record) is measured."""
    layout = tenant_rows(CUSTOMERS)

    def any_known() -> tuple[str, str]:
        tenant, first, count = rng.choice(layout)
        return tenant, phone_of(first + rng.randrange(count))

    def any_unknown() -> tuple[str, str]:
        return rng.choice(layout)[0], f"+3379{rng.randrange(10**7):07d}"

    hot = [any_known() for _ in range(HOT_CUSTOMERS)]
    unknown = [any_unknown() for _ in range(UNKNOWN_CALLERS)]

    def pick() -> tuple[str, str]:
        return rng.choice(unknown) if rng.random() < 0.1 else rng.choice(hot)

    async def lookup(tenant: str, number: str) -> None:
        await service.customers.lookup(tenant, number)

    index = service.index
    probes = [any_known() for _ in range(200_000)]
    began = time.perf_counter()
    for tenant, number in probes:
        index.get(tenant, number)
    per_s = len(probes) / (time.perf_counter() - began)
    print(f"BENCH phone_index_gets_per_s {per_s:.0f} gets/s")

    for tenant, number in (any_known() for _ in range(200)):
        await lookup(tenant, number)
    cold = hot[:1800] + unknown[:200]
    rng.shuffle(cold)
    durations = await timed([partial(lookup, t, n) for t, n in cold])
    log(f"cold lookup median {statistics.median(durations):.2f} ms over {len(durations)}")
    print(f"BENCH customer_lookup_cold_p99 {p99(durations):.2f} ms")

    pending = hot[1800:] + unknown[200:]

    async def filler() -> None:
        while pending:
            await lookup(*pending.pop())

    began = time.perf_counter()
    await asyncio.gather(*(filler() for _ in range(8)))
    cache = service.cache
    log(
        f"cache filled in {time.perf_counter() - began:.1f}s: {len(cache):,} customers, "
        f"{cache.size_bytes / 2**20:.1f} MiB estimated"
    )

    hits = cache.hits
    samples = [pick() for _ in range(20_000)]
    durations = await timed([partial(lookup, t, n) for t, n in samples])
    log(
        f"hot lookup median {statistics.median(durations) * 1000:.1f} us over "
        f"{len(durations)}, {(cache.hits - hits) / len(samples):.1%} from the cache"
    )
    print(f"BENCH customer_lookup_p99 {p99(durations):.3f} ms")

    done = 0
    deadline = time.perf_counter() + 3.0

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            for _ in range(100):
                await lookup(*pick())
            done += 100

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    print(f"BENCH customer_lookups_per_s {done / (time.perf_counter() - began):.0f} lookups/s")


def search_queries(rng: random.Random) -> list[dict[str, Any]]:
    """What agents and supervisors ask of the big tenant."""
    _, first, count = tenant_rows(CUSTOMERS)[0]
    open_statuses = "new,assigned,in_progress,pending_customer"
    queries: list[dict[str, Any]] = []
    for _ in range(60):
        month_start = NOW - timedelta(days=rng.randrange(30, 700))
        word = rng.choice(WORDS)
        pair = f"{rng.choice(WORDS)} {rng.choice(WORDS)[:4]}"
        reference = f"ord{rng.randrange(1_000_000)}"
        queries += [
            {"text": word, "status": open_statuses},
            {"text": pair},
            {"text": word, "category": rng.choice(["billing", "network", "delivery"])},
            {"text": reference},
            {"text": f"{rng.choice(WORDS)} {reference[:5]}", "status": open_statuses},
            {"text": f"martin{rng.randrange(5000):04d}"},
            {"text": "zyxwvut"},
            {"assignee_id": f"agent-{rng.randrange(AGENTS)}", "status": open_statuses},
            {
                "department_id": f"dept-{rng.randrange(DEPARTMENTS)}",
                "created_from": month_start,
                "created_to": month_start + timedelta(days=30),
            },
            {"customer_id": _customer_id(first + rng.randrange(count))},
            {"number": str(rng.randrange(1, 500_000))},
            {"text": word, "created_from": month_start, "created_to": month_start + timedelta(30)},
            {"status": "new", "unassigned": True},
            {"status": open_statuses, "page": rng.randrange(1, 6)},
        ]
    rng.shuffle(queries)
    return queries


def _customer_id(row: int) -> str:
    """The id the loader gave customer number `row` (md5 of 'c<row>' as a UUID)."""
    return str(uuid.UUID(hashlib.md5(f"c{row}".encode()).hexdigest()))


async def bench_search(service: TicketsApp, rng: random.Random) -> None:
    tenant = tenant_name(0)
    queries = [TicketSearchQuery.parse(params) for params in search_queries(rng)]
    for query in queries[:30]:
        await service.tickets.search(tenant, query)
    durations = await timed([partial(service.tickets.search, tenant, q) for q in queries])
    slowest = sorted(zip(durations, queries, strict=True), key=lambda item: -item[0])[:3]
    for duration, query in slowest:
        log(f"  slow search {duration:.1f} ms: {query.model_dump(exclude_defaults=True)}")
    log(f"search median {statistics.median(durations):.2f} ms over {len(durations)}")
    print(f"BENCH ticket_search_p99 {p99(durations):.2f} ms")


async def run(url: str, *, loaded: bool) -> None:
    began = time.perf_counter()
    if not loaded:
        await db.upgrade("tickets", "switchboard_tickets", url)
        await load(url)
    engine = db.create_engine(url, pool_size=10)
    try:
        service = assemble(TicketsSettings(kafka_bootstrap_servers=""), engine, clock=lambda: NOW)
        warm_began = time.perf_counter()
        numbers = await service.customers.warm_index()
        log(f"index warmed with {numbers:,} numbers in {time.perf_counter() - warm_began:.1f}s")
        rng = random.Random(7)
        await service.cache_listener.start()
        try:
            await bench_lookups(service, rng)
            await bench_search(service, rng)
        finally:
            await service.cache_listener.stop()
    finally:
        await engine.dispose()
    log(f"done in {time.perf_counter() - began:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", metavar="URL", help="measure a database kept before")
    args = parser.parse_args()
    if args.reuse:
        asyncio.run(run(args.reuse, loaded=True))
        return 0
    log(f"creating a throwaway database on {ADMIN_URL.rsplit('@', 1)[-1]}")
    url = create_database("sbbench")
    try:
        asyncio.run(run(url, loaded=False))
    finally:
        if args.keep:
            log(f"kept {url}")
        else:
            drop_database(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
