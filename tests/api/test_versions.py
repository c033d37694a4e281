"""One rule for projects and tasks: a PATCH bumps the version (and ETag) only when it really changes something."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from harness.api import Actor, create_project, create_task, create_team


async def _project_url(client: httpx.AsyncClient, alice: Actor) -> str:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"], name="Roadmap")
    return f"/api/v1/projects/{project['id']}"


async def _task_url(client: httpx.AsyncClient, alice: Actor) -> str:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    task = await create_task(client, alice, project["id"], title="Write the docs", assignee_id=str(alice.id))
    return f"/api/v1/tasks/{task['id']}"


# (what is patched, how to make one, the fields sent again as they are, a real change)
CASES = [
    ("project", _project_url, ("name", "description"), {"name": "Roadmap 2"}),
    ("task", _task_url, ("title", "description", "status", "priority", "assignee_id"), {"title": "Ship it"}),
]


def _current(item: dict[str, Any], name: str) -> object:
    return item["assignee"]["id"] if name == "assignee_id" else item[name]


@pytest.mark.parametrize(("kind", "make", "fields", "change"), CASES, ids=[case[0] for case in CASES])
async def test_patch_with_the_current_values_keeps_the_version(
    client: httpx.AsyncClient,
    alice: Actor,
    kind: str,
    make: Callable[[httpx.AsyncClient, Actor], Awaitable[str]],
    fields: tuple[str, ...],
    change: dict[str, object],
) -> None:
    url = await make(client, alice)
    before = (await client.get(url, headers=alice.headers)).json()
    same = {name: _current(before, name) for name in fields}

    unchanged = await client.patch(url, json=same, headers={**alice.headers, "If-Match": '"1"'})
    assert unchanged.status_code == 200, unchanged.text
    assert unchanged.headers["etag"] == '"1"', kind
    assert unchanged.json() == before

    changed = await client.patch(url, json=change, headers={**alice.headers, "If-Match": '"1"'})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] == '"2"', kind
    assert changed.json()["updated_at"] > before["updated_at"]
