"""List responses are serialised straight from rows: each must be byte for byte what its model would send."""

from typing import Any

import httpx
from pydantic import BaseModel

from app.models.common import Page
from app.models.projects import ProjectPublic
from app.models.tasks import TaskPublic
from harness.api import Actor, add_member, create_project, create_task, create_team


def assert_model_body(response: httpx.Response, model: type[BaseModel]) -> dict[str, Any]:
    """The body parses as `model` (no extra, missing or mistyped field) and the model sends the same bytes."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    parsed = model.model_validate_json(response.content)
    assert parsed.model_dump_json() == response.text
    body: dict[str, Any] = response.json()
    return body


async def test_list_bodies_are_what_the_models_send(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> None:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob)
    project = await create_project(client, alice, team["id"])
    await create_task(client, alice, project["id"], title="Plain")  # no assignee, description or due date
    await create_task(
        client,
        alice,
        project["id"],
        title="Full ünïcode ✓",
        description='line 1\nline 2 "quoted"',
        priority="high",
        status="in_progress",
        due_date="2026-12-31",
        assignee_id=str(bob.id),
    )

    tasks = assert_model_body(
        await client.get(f"/api/v1/projects/{project['id']}/tasks", headers=alice.headers), Page[TaskPublic]
    )
    assert tasks["total"] == 2 and tasks["limit"] == 50 and tasks["offset"] == 0
    full = tasks["items"][0]
    assert full["assignee"]["email"] == bob.email and full["due_date"] == "2026-12-31"
    assert tasks["items"][1]["assignee"] is None

    mine = assert_model_body(await client.get("/api/v1/users/me/tasks", headers=bob.headers), Page[TaskPublic])
    assert [item["title"] for item in mine["items"]] == ["Full ünïcode ✓"]

    projects = assert_model_body(
        await client.get("/api/v1/projects", params={"limit": 1}, headers=alice.headers), Page[ProjectPublic]
    )
    assert projects["total"] == 1 and projects["limit"] == 1

    empty = assert_model_body(
        await client.get(f"/api/v1/projects/{project['id']}/tasks?offset=5", headers=alice.headers), Page[TaskPublic]
    )
    assert empty["items"] == [] and empty["total"] == 2
