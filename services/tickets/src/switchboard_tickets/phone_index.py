"""The in-process index of phone numbers: tenant -> E.164 number -> customer id.

Warmed from the database at start, kept current by the service after each committed write
and by customer events from other instances; a miss falls back to the database. Reads are
plain dictionary look-ups (no I/O, no lock: asyncio runs one task at a time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class PhoneIndex:
    def __init__(self) -> None:
        self._tenants: dict[str, dict[str, str]] = {}
        self.warmed = False

    def __len__(self) -> int:
        return sum(len(numbers) for numbers in self._tenants.values())

    def get(self, tenant_id: str, phone: str) -> str | None:
        numbers = self._tenants.get(tenant_id)
        return numbers.get(phone) if numbers is not None else None

    def load(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """Add (tenant, number, customer id) rows; how many were added."""
        count = 0
        for tenant_id, phone, customer_id in rows:
            numbers = self._tenants.get(tenant_id)
            if numbers is None:
                numbers = self._tenants[tenant_id] = {}
            numbers[phone] = customer_id
            count += 1
        return count

    def apply(self, tenant_id: str, phones: Iterable[str], owners: Mapping[str, str]) -> None:
        """Set the owners of `phones` as the database now says (no owner: forget the number)."""
        numbers = self._tenants.setdefault(tenant_id, {})
        for phone in phones:
            owner = owners.get(phone)
            if owner is None:
                numbers.pop(phone, None)
            else:
                numbers[phone] = owner

    def forget(self, tenant_id: str, phone: str) -> None:
        numbers = self._tenants.get(tenant_id)
        if numbers is not None:
            numbers.pop(phone, None)

    def clear(self) -> None:
        self._tenants.clear()
        self.warmed = False
