"""Optimistic concurrency: a change may name the versions it was based on; a stale one is refused."""

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol

from app.core.errors import StaleVersion
from app.models.common import utc_now

# The versions a change was based on; None: any version (the client did not ask for a check).
ExpectedVersions = frozenset[int] | None


def check_version(expected: ExpectedVersions, version: int) -> None:
    """Raise StaleVersion when the current version is not one the change was based on."""
    if expected is None or version in expected:
        return
    raise StaleVersion(f"The resource has changed (current version {version}); reload it and try again.")


class Versioned(Protocol):
    """A row whose changes bump its version (its ETag)."""

    version: int
    updated_at: datetime


def apply_changes(row: Versioned, changes: Mapping[str, object]) -> bool:
    """Set the fields whose value differs; whether any did. A change that sends what is already there is no change:
    it leaves the version (and so every client's ETag) as it is."""
    changed = False
    for field, value in changes.items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed


def bump_version(row: Versioned) -> None:
    """A new version (and ETag) for a row that changed."""
    row.version += 1
    row.updated_at = utc_now()
