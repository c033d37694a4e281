"""List responses are serialised straight from rows: each must be byte for byte what its model would send."""

from typing import Any

import httpx
from pydantic import BaseModel

from app.models.common import Page
from app.models.invitations import InvitationPublic
from app.models.projects import ProjectPublic
from app.models.tasks import TaskPublic
from app.models.teams import TeamPublic
from app.models.users import UserPublic
from harness.api import Actor, UserFactory, add_member, create_project, create_task, create_team


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


async def test_user_team_and_invitation_lists_are_what_the_models_send(
    client: httpx.AsyncClient, make_user: UserFactory, alice: Actor, bob: Actor
) -> None:
    admin = await make_user("admin@example.com", superuser=True, full_name="Ädmin")
    team = await create_team(client, alice, "Platform ✓")
    await add_member(client, alice, team["id"], bob)
    for email in ("new@example.com", bob.email.replace("bob", "robert")):
        invited = await client.post(
            f"/api/v1/teams/{team['id']}/invitations", json={"email": email, "role": "admin"}, headers=alice.headers
        )
        assert invited.status_code == 202, invited.text

    users = assert_model_body(await client.get("/api/v1/users", headers=admin.headers), Page[UserPublic])
    assert [user["email"] for user in users["items"]] == [alice.email, bob.email, "admin@example.com"]
    assert users["items"][2]["is_superuser"] is True and users["total"] == 3

    teams = assert_model_body(await client.get("/api/v1/teams", headers=bob.headers), Page[TeamPublic])
    assert [(item["name"], item["role"]) for item in teams["items"]] == [("Platform ✓", "member")]

    invitations = assert_model_body(
        await client.get(f"/api/v1/teams/{team['id']}/invitations", headers=alice.headers), Page[InvitationPublic]
    )
    assert invitations["total"] == 2
    first = invitations["items"][0]
    assert first["team"] == {"id": team["id"], "name": "Platform ✓"} and first["role"] == "admin"
    assert first["invited_by"]["email"] == alice.email

    past = assert_model_body(await client.get("/api/v1/teams?offset=3", headers=bob.headers), Page[TeamPublic])
    assert past["items"] == [] and past["total"] == 1
