"""Optimistic concurrency: every update names the version it was based on."""

from __future__ import annotations

from switchboard_common.errors import Conflict


def ensure_version(resource: str, resource_id: str, *, expected: int, actual: int) -> None:
    """Raise Conflict `version-conflict` (409) when the stored version moved on."""
    if expected != actual:
        raise Conflict(
            f"{resource} {resource_id} is at version {actual}, not {expected}; reload and retry",
            error_id="version-conflict",
            details={
                "resource": resource,
                "id": resource_id,
                "expected_version": expected,
                "actual_version": actual,
            },
        )
