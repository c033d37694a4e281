"""Optimistic concurrency: versions exposed as ETags and checked against If-Match."""

from app.core.errors import PreconditionFailed


def etag(version: int) -> str:
    """The strong ETag of a resource version."""
    return f'"{version}"'


def check_version(if_match: str | None, version: int) -> None:
    """Raise 412 when an If-Match header names none of the current version."""
    if if_match is None:
        return
    # RFC 9110: If-Match uses the strong comparison, so weak tags never match.
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates or etag(version) in candidates:
        return
    raise PreconditionFailed(f"The resource has changed (current version {version}); reload it and try again.")
