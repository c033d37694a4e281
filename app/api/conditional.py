"""Conditional requests: a resource's version goes out as its ETag and comes back in If-Match."""

import re
from typing import Annotated

from fastapi import Depends, Header, Response
from pydantic.json_schema import SkipJsonSchema

from app.core.errors import BadRequest
from app.services.concurrency import ExpectedVersions

# The strong ETags this service issues: a version number in quotes. A version is a 32-bit integer, so a longer
# number (or a weak tag, W/"1", which If-Match never matches: RFC 9110 strong comparison) names no version.
_VERSION_TAG = re.compile(r'"?(0|[1-9][0-9]{0,18})"?')
# What If-Match may hold: `*`, or a list of entity tags (RFC 9110), or bare version numbers (the body's `version`).
# A quoted tag may hold a comma, so the list is read tag by tag, not split at commas.
_ENTITY_TAG = re.compile(r'\*|(W/)?"[^"\x00-\x20\x7f]*"|[0-9]+')
_TAG_LIST = re.compile(rf"\s*({_ENTITY_TAG.pattern})(\s*,\s*({_ENTITY_TAG.pattern}))*\s*")
IF_MATCH_PATTERN = r'^\s*(\*|(W/)?"[^"\x00-\x20\x7f]*"|[0-9]+)(\s*,\s*((W/)?"[^"\x00-\x20\x7f]*"|[0-9]+))*\s*$'

# Optional, never null: a header is present or absent (a null in the document would read as the text "null").
IfMatch = Annotated[
    str | SkipJsonSchema[None],
    Header(
        description=(
            'Optional. Apply only if the resource still has this ETag (`"3"`, or the bare version `3`); '
            "a stale one gets 412."
        ),
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]


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
    if not _TAG_LIST.fullmatch(if_match):
        raise BadRequest(
            'If-Match must be a quoted ETag such as "2" (as the ETag header sent it), the bare version 2, '
            "a comma-separated list of those, or *."
        )
    candidates = [tag[0] for tag in _ENTITY_TAG.finditer(if_match)]
    if "*" in candidates:
        return None
    # Weak tags (W/"1") and tags that are no version of ours name nothing: the change gets 412.
    return frozenset(int(match[1]) for tag in candidates if (match := _VERSION_TAG.fullmatch(tag)))


async def _if_match_versions(if_match: IfMatch = None) -> ExpectedVersions:
    # async: FastAPI would run a plain function dependency in its thread pool.
    return expected_versions(if_match)


ExpectedVersionsDep = Annotated[ExpectedVersions, Depends(_if_match_versions)]
