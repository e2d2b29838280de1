"""The per-instance look-up cache: tenant + customer id -> what a look-up answers.

An entry holds the customer's card, its numbers, open tickets and latest contacts, as read
with the limits it was filled with. It is bounded by entries and by an estimated memory
budget (least recently used first out) and each entry lives at most `ttl_s` (a safety net:
every committed write evicts the customers it touched, in this instance after commit and in
the others through the invalidations they receive).

A fill races with writes: it reads the database, then stores. `epoch()` is taken before the
read and `put()` refuses the entry if its customer was invalidated since, so a read made
before a commit can never be stored after that commit's invalidation. The cache remembers
the epoch of the last `max_entries` invalidations; older ones are summed up by one mark,
before which every fill is refused.

Numbers nobody owns are remembered too (a caller without a record must not cost a query
per call); any write that changes a tenant's numbers forgets them all for that tenant
(`numbers_changed`), and `unknown_generation()` guards their fills the same way.

Reads are plain dictionary operations (no I/O, no lock: asyncio runs one task at a time).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from switchboard_tickets.domain import ContactHistoryEntry
from switchboard_tickets.schemas import CustomerCard, OpenTicketSummary

_ENTRY_BYTES = 1_200
_TICKET_BYTES = 700
_CONTACT_BYTES = 900


@dataclass(frozen=True, slots=True)
class CachedCustomer:
    """A customer as a look-up sees it, read with at most `open_ticket_limit` open tickets
    and `contact_limit` contacts."""

    card: CustomerCard
    phones: frozenset[str]
    open_tickets: tuple[OpenTicketSummary, ...]
    contacts: tuple[ContactHistoryEntry, ...]
    open_ticket_limit: int
    contact_limit: int

    def covers(self, *, open_tickets: int, contacts: int) -> bool:
        """Whether the entry answers a look-up with these limits (it read at least as many
        rows, or fewer rows than its limits: then it has them all)."""
        tickets_ok = open_tickets <= self.open_ticket_limit or (
            len(self.open_tickets) < self.open_ticket_limit
        )
        contacts_ok = contacts <= self.contact_limit or len(self.contacts) < self.contact_limit
        return tickets_ok and contacts_ok


def estimated_size(entry: CachedCustomer) -> int:
    """A rough memory footprint in bytes (objects plus the text they hold)."""
    card = entry.card
    text = len(card.id) + len(card.name) + len(card.company) + sum(len(t) for t in card.tags)
    text += sum(len(phone) for phone in entry.phones)
    text += sum(len(ticket.subject) for ticket in entry.open_tickets)
    return (
        _ENTRY_BYTES
        + 2 * text
        + _TICKET_BYTES * len(entry.open_tickets)
        + _CONTACT_BYTES * len(entry.contacts)
    )


@dataclass(frozen=True, slots=True)
class _Slot:
    entry: CachedCustomer
    expires_at: float
    size: int


class LookupCache:
    """LRU of `CachedCustomer` by (tenant, customer id), bounded by `max_entries` and
    `max_bytes`; entries older than `ttl_s` are misses."""

    def __init__(
        self,
        *,
        max_entries: int,
        max_bytes: int,
        ttl_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 0 or max_bytes < 0 or ttl_s <= 0:
            raise ValueError("cache bounds must be non-negative and the TTL positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self._monotonic = monotonic
        self._slots: OrderedDict[tuple[str, str], _Slot] = OrderedDict()
        self._bytes = 0
        self._epoch = 0
        self._invalidated: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._forgotten_before = 0
        self._unknown: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._generations: dict[str, int] = {}
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    @property
    def enabled(self) -> bool:
        return self.max_entries > 0 and self.max_bytes > 0

    def epoch(self) -> int:
        """Take before reading what will be `put()`."""
        return self._epoch

    def get(self, tenant_id: str, customer_id: str) -> CachedCustomer | None:
        key = (tenant_id, customer_id)
        slot = self._slots.get(key)
        if slot is None:
            self.misses += 1
            return None
        if slot.expires_at <= self._monotonic():
            self._drop(key)
            self.misses += 1
            return None
        self._slots.move_to_end(key)
        self.hits += 1
        return slot.entry

    def put(self, tenant_id: str, entry: CachedCustomer, *, epoch: int) -> bool:
        """Store an entry read after `epoch()` returned `epoch`; False (not stored) if an
        invalidation of this customer happened since, or the entry alone exceeds the budget."""
        key = (tenant_id, entry.card.id)
        if not self.enabled or epoch < self._forgotten_before:
            return False
        if self._invalidated.get(key, -1) > epoch:
            return False
        size = estimated_size(entry)
        if size > self.max_bytes:
            return False
        if key in self._slots:
            self._drop(key)
        self._slots[key] = _Slot(entry, self._monotonic() + self.ttl_s, size)
        self._bytes += size
        while len(self._slots) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(self._slots))
            self._drop(oldest)
            self.evictions += 1
        return True

    def invalidate(self, tenant_id: str, customer_ids: Iterable[str]) -> None:
        """Forget these customers (after a committed write that touched them)."""
        self._epoch += 1
        for customer_id in customer_ids:
            key = (tenant_id, customer_id)
            self._drop(key)
            self._invalidated[key] = self._epoch
            self._invalidated.move_to_end(key)
        while len(self._invalidated) > max(self.max_entries, 1_000):
            _, forgotten = self._invalidated.popitem(last=False)
            self._forgotten_before = forgotten

    def unknown_generation(self, tenant_id: str) -> int:
        """Take before asking the database who owns a number."""
        return self._generations.get(tenant_id, 0)

    def is_unknown(self, tenant_id: str, number: str) -> bool:
        """Whether `number` was found to have no owner, and no number changed since."""
        key = (tenant_id, number)
        remembered = self._unknown.get(key)
        if remembered is None:
            return False
        generation, expires_at = remembered
        if generation != self._generations.get(tenant_id, 0) or expires_at <= self._monotonic():
            del self._unknown[key]
            return False
        self._unknown.move_to_end(key)
        self.hits += 1
        return True

    def put_unknown(self, tenant_id: str, number: str, *, generation: int) -> bool:
        """Remember that nobody owns `number` (read at `generation`)."""
        if not self.enabled or generation != self._generations.get(tenant_id, 0):
            return False
        self._unknown[(tenant_id, number)] = (generation, self._monotonic() + self.ttl_s)
        while len(self._unknown) > self.max_entries:
            self._unknown.popitem(last=False)
        return True

    def numbers_changed(self, tenant_id: str) -> None:
        """A committed write changed numbers of `tenant_id`: forget its unknown numbers."""
        self._generations[tenant_id] = self._generations.get(tenant_id, 0) + 1

    def apply_change(self, tenant_id: str, customer_ids: Iterable[str], numbers: bool) -> None:
        """A committed transaction touched these customers (and maybe numbers)."""
        if numbers:
            self.numbers_changed(tenant_id)
        self.invalidate(tenant_id, customer_ids)

    def clear(self) -> None:
        """Forget everything (e.g. when invalidations from other instances may be lost)."""
        self._epoch += 1
        self._forgotten_before = self._epoch
        self._invalidated.clear()
        self._unknown.clear()
        for tenant_id in list(self._generations):
            self._generations[tenant_id] += 1
        self._slots.clear()
        self._bytes = 0

    def _drop(self, key: tuple[str, str]) -> None:
        slot = self._slots.pop(key, None)
        if slot is not None:
            self._bytes -= slot.size
