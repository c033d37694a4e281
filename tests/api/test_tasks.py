"""Tasks: creation, assignment rules, filters, ordering, ETags, permissions."""

import uuid

import httpx
import pytest

from harness.api import Actor, add_member, assert_problem, create_project, create_task, create_team


@pytest.fixture
async def project(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> dict[str, object]:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob)
    return await create_project(client, alice, team["id"])


async def test_create_task_with_defaults(client: httpx.AsyncClient, alice: Actor, project: dict[str, str]) -> None:
    response = await client.post(
        f"/api/v1/projects/{project['id']}/tasks", json={"title": "Ship"}, headers=alice.headers
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert response.headers["etag"] == '"1"'
    assert task["status"] == "todo" and task["priority"] == "medium"
    assert task["assignee"] is None and task["due_date"] is None and task["description"] is None
    assert task["project"] == {"id": project["id"], "name": project["name"]}
    assert task["created_by"]["email"] == alice.email
    assert task["version"] == 1


async def test_create_task_with_everything(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, project: dict[str, str]
) -> None:
    task = await create_task(
        client,
        alice,
        project["id"],
        title="Deploy",
        description="to prod",
        status="in_progress",
        priority="urgent",
        assignee_id=str(bob.id),
        due_date="2026-12-31",
    )
    assert task["assignee"]["email"] == bob.email
    assert (task["status"], task["priority"], task["due_date"]) == ("in_progress", "urgent", "2026-12-31")


@pytest.mark.parametrize(
    "payload",
    [
        {"title": ""},
        {"title": "x", "status": "blocked"},
        {"title": "x", "priority": "whenever"},
        {"title": "x", "due_date": "tomorrow"},
        {"title": "x", "assignee_id": "not-a-uuid"},
        {"title": "x", "project_id": str(uuid.uuid4())},
        {},
    ],
)
async def test_task_validation(
    client: httpx.AsyncClient, alice: Actor, project: dict[str, str], payload: dict[str, object]
) -> None:
    assert_problem(
        await client.post(f"/api/v1/projects/{project['id']}/tasks", json=payload, headers=alice.headers), 422
    )


async def test_assignee_must_be_a_team_member(
    client: httpx.AsyncClient, alice: Actor, carol: Actor, project: dict[str, str]
) -> None:
    for assignee in (str(carol.id), str(uuid.uuid4())):
        response = await client.post(
            f"/api/v1/projects/{project['id']}/tasks",
            json={"title": "x", "assignee_id": assignee},
            headers=alice.headers,
        )
        assert_problem(response, 422, "member of the project's team")
    task = await create_task(client, alice, project["id"])
    reassign = await client.patch(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": str(carol.id)}, headers=alice.headers
    )
    assert_problem(reassign, 422)


async def test_list_filters_and_order(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, project: dict[str, str]
) -> None:
    url = f"/api/v1/projects/{project['id']}/tasks"
    await create_task(client, alice, project["id"], title="first", status="done", priority="low")
    await create_task(client, alice, project["id"], title="second", assignee_id=str(bob.id), priority="high")
    await create_task(client, alice, project["id"], title="third", status="in_progress", assignee_id=str(bob.id))

    all_tasks = (await client.get(url, headers=alice.headers)).json()
    assert [t["title"] for t in all_tasks["items"]] == ["third", "second", "first"]
    assert all_tasks["total"] == 3

    async def titles(**params: str) -> list[str]:
        return [t["title"] for t in (await client.get(url, params=params, headers=alice.headers)).json()["items"]]

    assert await titles(status="done") == ["first"]
    assert await titles(priority="high") == ["second"]
    assert await titles(assignee_id=str(bob.id)) == ["third", "second"]
    assert await titles(assignee_id=str(bob.id), status="in_progress") == ["third"]
    assert_problem(await client.get(url, params={"status": "nope"}, headers=alice.headers), 422)


async def test_my_tasks_across_teams(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, project: dict[str, str]
) -> None:
    other_team = await create_team(client, bob, "Bob's own")
    other_project = await create_project(client, bob, other_team["id"])
    await create_task(client, alice, project["id"], title="a", assignee_id=str(bob.id))
    await create_task(client, bob, other_project["id"], title="b", assignee_id=str(bob.id), status="done")
    await create_task(client, alice, project["id"], title="not bob's")

    mine = (await client.get("/api/v1/users/me/tasks", headers=bob.headers)).json()
    assert [t["title"] for t in mine["items"]] == ["b", "a"]
    done = (await client.get("/api/v1/users/me/tasks", params={"status": "done"}, headers=bob.headers)).json()
    assert [t["title"] for t in done["items"]] == ["b"]
    assert (await client.get("/api/v1/users/me/tasks", headers=alice.headers)).json()["total"] == 0


async def test_read_update_delete(client: httpx.AsyncClient, alice: Actor, bob: Actor, project: dict[str, str]) -> None:
    task = await create_task(client, bob, project["id"])
    url = f"/api/v1/tasks/{task['id']}"
    read = await client.get(url, headers=alice.headers)
    assert read.status_code == 200 and read.headers["etag"] == '"1"'
    assert read.json() == task

    updated = await client.patch(
        url,
        json={"status": "done", "due_date": "2027-01-02", "description": "d"},
        headers={**bob.headers, "If-Match": '"1"'},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["status"], body["due_date"], body["description"], body["version"]) == ("done", "2027-01-02", "d", 2)
    assert updated.headers["etag"] == '"2"'
    assert_problem(await client.patch(url, json={"title": "late"}, headers={**alice.headers, "If-Match": '"1"'}), 412)
    assert_problem(await client.patch(url, json={"title": None}, headers=alice.headers), 422, "title")
    unchanged = await client.patch(url, json={"status": "done"}, headers=alice.headers)
    assert unchanged.json()["version"] == 2

    assert_problem(await client.delete(url, headers={**bob.headers, "If-Match": '"1"'}), 412)
    assert (await client.delete(url, headers=bob.headers)).status_code == 204
    assert_problem(await client.get(url, headers=bob.headers), 404)


async def test_only_creator_or_managers_delete(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, project: dict[str, str]
) -> None:
    by_alice = await create_task(client, alice, project["id"])
    assert_problem(await client.delete(f"/api/v1/tasks/{by_alice['id']}", headers=bob.headers), 403)
    by_bob = await create_task(client, bob, project["id"])
    assert (await client.delete(f"/api/v1/tasks/{by_bob['id']}", headers=alice.headers)).status_code == 204


async def test_unassign(client: httpx.AsyncClient, alice: Actor, bob: Actor, project: dict[str, str]) -> None:
    task = await create_task(client, alice, project["id"], assignee_id=str(bob.id))
    response = await client.patch(f"/api/v1/tasks/{task['id']}", json={"assignee_id": None}, headers=alice.headers)
    assert response.json()["assignee"] is None and response.json()["version"] == 2


async def test_outsiders_get_404(
    client: httpx.AsyncClient, alice: Actor, carol: Actor, project: dict[str, str]
) -> None:
    task = await create_task(client, alice, project["id"])
    url = f"/api/v1/tasks/{task['id']}"
    assert_problem(await client.get(url, headers=carol.headers), 404)
    assert_problem(await client.patch(url, json={"title": "x"}, headers=carol.headers), 404)
    assert_problem(await client.delete(url, headers=carol.headers), 404)
    assert_problem(await client.get(f"/api/v1/tasks/{uuid.uuid4()}", headers=alice.headers), 404)
