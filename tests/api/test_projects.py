"""Projects: visibility, permissions, task counts, ETags and If-Match."""

import uuid

import httpx
import pytest

from harness.api import Actor, add_member, assert_problem, create_project, create_task, create_team


async def test_create_and_read_project(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> None:
    team = await create_team(client, alice, "Platform")
    await add_member(client, alice, team["id"], bob)
    response = await client.post(
        f"/api/v1/teams/{team['id']}/projects", json={"name": "Roadmap", "description": "Q3"}, headers=bob.headers
    )
    assert response.status_code == 201, response.text
    project = response.json()
    assert response.headers["etag"] == '"1"'
    assert project["team"] == {"id": team["id"], "name": "Platform"}
    assert project["created_by"]["email"] == bob.email
    assert project["task_counts"] == {"todo": 0, "in_progress": 0, "done": 0}
    assert project["version"] == 1

    read = await client.get(f"/api/v1/projects/{project['id']}", headers=alice.headers)
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert read.json() == project


async def test_task_counts(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    for status in ("todo", "todo", "in_progress", "done"):
        await create_task(client, alice, project["id"], status=status)
    read = (await client.get(f"/api/v1/projects/{project['id']}", headers=alice.headers)).json()
    assert read["task_counts"] == {"todo": 2, "in_progress": 1, "done": 1}
    listed = (await client.get("/api/v1/projects", headers=alice.headers)).json()
    assert listed["items"][0]["task_counts"] == {"todo": 2, "in_progress": 1, "done": 1}


async def test_list_projects_across_teams_and_by_team(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor
) -> None:
    mine = await create_team(client, alice, "Mine")
    shared = await create_team(client, bob, "Shared")
    await add_member(client, bob, shared["id"], alice)
    other = await create_team(client, carol, "Other")
    await create_project(client, alice, mine["id"], "A")
    await create_project(client, bob, shared["id"], "B")
    await create_project(client, carol, other["id"], "C")

    everything = (await client.get("/api/v1/projects", headers=alice.headers)).json()
    assert everything["total"] == 2
    assert [p["name"] for p in everything["items"]] == ["B", "A"]
    one = (await client.get("/api/v1/projects", params={"team_id": shared["id"]}, headers=alice.headers)).json()
    assert [p["name"] for p in one["items"]] == ["B"]
    # A team the caller is not in is 404, as for a team that does not exist: nothing leaks, as the README says.
    none = await client.get("/api/v1/projects", params={"team_id": other["id"]}, headers=alice.headers)
    assert_problem(none, 404, "team not found")


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"offset": -1}, "offset"), ({"limit": "x"}, "limit")],
)
async def test_pagination_bounds(
    client: httpx.AsyncClient, alice: Actor, params: dict[str, int | str], field: str
) -> None:
    body = assert_problem(await client.get("/api/v1/projects", params=params, headers=alice.headers), 422)
    assert body["errors"][0]["loc"] == ["query", field]


async def test_pagination_limit_offset_total(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    for i in range(5):
        await create_project(client, alice, team["id"], f"P{i}")
    page = (await client.get("/api/v1/projects", params={"limit": 2, "offset": 2}, headers=alice.headers)).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 2
    assert [p["name"] for p in page["items"]] == ["P2", "P1"]
    at_200 = await client.get("/api/v1/projects", params={"limit": 200, "offset": 10}, headers=alice.headers)
    assert at_200.json()["items"] == [] and at_200.json()["total"] == 5


async def test_update_requires_owner_or_admin(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> None:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob)
    project = await create_project(client, bob, team["id"])
    url = f"/api/v1/projects/{project['id']}"
    assert_problem(await client.patch(url, json={"name": "Mine now"}, headers=bob.headers), 403)
    assert_problem(await client.delete(url, headers=bob.headers), 403)
    updated = await client.patch(url, json={"name": "Renamed", "description": None}, headers=alice.headers)
    assert updated.status_code == 200
    assert updated.json()["name"] == "Renamed" and updated.json()["description"] is None
    assert updated.json()["version"] == 2
    assert updated.headers["etag"] == '"2"'
    assert updated.json()["updated_at"] > project["updated_at"]


async def test_update_with_if_match(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    url = f"/api/v1/projects/{project['id']}"
    first = await client.patch(url, json={"name": "One"}, headers={**alice.headers, "If-Match": '"1"'})
    assert first.status_code == 200 and first.headers["etag"] == '"2"'
    # A second writer still holding version 1 must not overwrite the first one's change.
    stale = await client.patch(url, json={"name": "Two"}, headers={**alice.headers, "If-Match": '"1"'})
    assert_problem(stale, 412, "changed")
    assert (await client.get(url, headers=alice.headers)).json()["name"] == "One"
    weak = await client.patch(url, json={"name": "Weak"}, headers={**alice.headers, "If-Match": 'W/"2"'})
    assert_problem(weak, 412)
    listed = await client.patch(url, json={"name": "Three"}, headers={**alice.headers, "If-Match": '"7", "2"'})
    assert listed.status_code == 200
    star = await client.patch(url, json={"name": "Four"}, headers={**alice.headers, "If-Match": "*"})
    assert star.status_code == 200 and star.json()["version"] == 4
    assert_problem(await client.delete(url, headers={**alice.headers, "If-Match": '"1"'}), 412)


async def test_empty_patch_changes_nothing(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    same = await client.patch(f"/api/v1/projects/{project['id']}", json={}, headers=alice.headers)
    assert same.json()["version"] == 1
    assert_problem(
        await client.patch(f"/api/v1/projects/{project['id']}", json={"name": None}, headers=alice.headers), 422
    )


async def test_delete_project_deletes_its_tasks(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    task = await create_task(client, alice, project["id"])
    deleted = await client.delete(f"/api/v1/projects/{project['id']}", headers=alice.headers)
    assert deleted.status_code == 204
    assert_problem(await client.get(f"/api/v1/projects/{project['id']}", headers=alice.headers), 404)
    assert_problem(await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers), 404)


async def test_outsiders_get_404(client: httpx.AsyncClient, alice: Actor, carol: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    url = f"/api/v1/projects/{project['id']}"
    for response in (
        await client.get(url, headers=carol.headers),
        await client.patch(url, json={"name": "x"}, headers=carol.headers),
        await client.delete(url, headers=carol.headers),
        await client.get(f"{url}/tasks", headers=carol.headers),
        await client.post(f"{url}/tasks", json={"title": "x"}, headers=carol.headers),
        await client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=carol.headers),
    ):
        assert_problem(response, 404, "not found")
