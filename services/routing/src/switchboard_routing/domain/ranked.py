"""A set of ids kept in order of a sort key: O(log n) search, position and neighbours.

Backed by one sorted Python list (bisect); inserting or removing moves pointers with a
memmove, which is far cheaper than the comparisons for the sizes routing sees (a queue with
tens of thousands of members or waiting calls).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator

SortKey = tuple[float | str, ...]


class RankedSet:
    """Members (string ids) ordered by (key, id). Keys of one set must compare with each other."""

    __slots__ = ("_entries", "_key_of")

    def __init__(self) -> None:
        self._entries: list[tuple[SortKey, str]] = []
        self._key_of: dict[str, SortKey] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, member: object) -> bool:
        return member in self._key_of

    def __iter__(self) -> Iterator[str]:
        return (member for _, member in self._entries)

    def add(self, member: str, key: SortKey) -> None:
        """Insert `member`, or move it if it is already there under another key."""
        old = self._key_of.get(member)
        if old is not None:
            if old == key:
                return
            self._remove_entry(old, member)
        self._key_of[member] = key
        insort(self._entries, (key, member))

    def discard(self, member: str) -> bool:
        key = self._key_of.pop(member, None)
        if key is None:
            return False
        self._remove_entry(key, member)
        return True

    def clear(self) -> None:
        self._entries.clear()
        self._key_of.clear()

    def key_of(self, member: str) -> SortKey | None:
        return self._key_of.get(member)

    def index_of(self, member: str) -> int:
        """0-based rank of a member; KeyError when absent."""
        return bisect_left(self._entries, (self._key_of[member], member))

    def member_at(self, index: int) -> str:
        return self._entries[index][1]

    def first(self) -> str | None:
        return self._entries[0][1] if self._entries else None

    def index_after(self, key: SortKey, member: str) -> int:
        """Index of the first member ranked after (key, member); len(self) when none."""
        return bisect_right(self._entries, (key, member))

    def next_after(self, key: SortKey, member: str) -> str | None:
        index = self.index_after(key, member)
        return self._entries[index][1] if index < len(self._entries) else None

    def _remove_entry(self, key: SortKey, member: str) -> None:
        index = bisect_left(self._entries, (key, member))
        del self._entries[index]
