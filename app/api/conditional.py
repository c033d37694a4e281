"""Conditional requests: a resource's version goes out as its ETag and comes back in If-Match."""

import re
from typing import Annotated

from fastapi import Depends, Header, Response

from app.services.concurrency import ExpectedVersions

# The strong ETags this service issues: a version number in quotes. A version is a 32-bit integer, so a longer
# number (or a weak tag, W/"1", which If-Match never matches: RFC 9110 strong comparison) names no version.
_VERSION_TAG = re.compile(r'"(0|[1-9][0-9]{0,18})"')

IfMatch = Annotated[str | None, Header(description="Apply only if the resource still has this ETag.")]


def etag(version: int) -> str:
    """The strong ETag of a resource version."""
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    """Send the resource's version as its ETag."""
    response.headers["ETag"] = etag(version)


def expected_versions(if_match: str | None) -> ExpectedVersions:
    """The versions an If-Match header names; None (any version) without the header or with `*`."""
    if if_match is None:
        return None
    candidates = [tag.strip() for tag in if_match.split(",")]
    if "*" in candidates:
        return None
    return frozenset(int(match[1]) for tag in candidates if (match := _VERSION_TAG.fullmatch(tag)))


async def _if_match_versions(if_match: IfMatch = None) -> ExpectedVersions:
    # async: FastAPI would run a plain function dependency in its thread pool.
    return expected_versions(if_match)


ExpectedVersionsDep = Annotated[ExpectedVersions, Depends(_if_match_versions)]
