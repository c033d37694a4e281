"""Optimistic concurrency: a change may name the versions it was based on; a stale one is refused."""

from app.core.errors import StaleVersion

# The versions a change was based on; None: any version (the client did not ask for a check).
ExpectedVersions = frozenset[int] | None


def check_version(expected: ExpectedVersions, version: int) -> None:
    """Raise StaleVersion when the current version is not one the change was based on."""
    if expected is None or version in expected:
        return
    raise StaleVersion(f"The resource has changed (current version {version}); reload it and try again.")
