"""N+1 guard: the SQL statements a list request runs do not grow with the page size."""

import uuid

import httpx
import pytest
from sqlalchemy import insert

from app.models.common import utc_now
from app.models.projects import Project
from app.models.tasks import Task
from app.models.teams import Membership, Team, TeamRole
from app.models.users import User
from harness.api import Actor, UserFactory, database_of

ITEMS = 60


@pytest.fixture
async def populated(client: httpx.AsyncClient, make_user: UserFactory, password_hash: str) -> tuple[Actor, str]:
    """A superuser in ITEMS teams, a project with ITEMS tasks assigned to them, ITEMS projects, ITEMS users."""
    actor = await make_user("counter@example.com", superuser=True)
    async with database_of(client).session() as session:
        users = [
            {
                "id": uuid.uuid4(),
                "email": f"u{i}@example.com",
                "hashed_password": password_hash,
                "created_at": utc_now(),
            }
            for i in range(ITEMS)
        ]
        await session.exec(insert(User).values(users))
        teams = [{"id": uuid.uuid4(), "name": f"T{i}", "created_at": utc_now()} for i in range(ITEMS)]
        await session.exec(insert(Team).values(teams))
        memberships = [
            {
                "id": uuid.uuid4(),
                "team_id": t["id"],
                "user_id": actor.id,
                "role": TeamRole.owner,
                "joined_at": utc_now(),
            }
            for t in teams
        ]
        await session.exec(insert(Membership).values(memberships))
        projects = [
            {
                "id": uuid.uuid4(),
                "name": f"P{i}",
                "team_id": teams[i]["id"],
                "created_by_id": actor.id,
                "created_at": utc_now(),
                "updated_at": utc_now(),
                "version": 1,
            }
            for i in range(ITEMS)
        ]
        await session.exec(insert(Project).values(projects))
        tasks = [
            {
                "id": uuid.uuid4(),
                "title": f"task {i}",
                "status": ("todo", "in_progress", "done")[i % 3],
                "priority": "medium",
                "project_id": projects[0]["id"],
                "assignee_id": actor.id,
                "created_by_id": users[i]["id"],
                "created_at": utc_now(),
                "updated_at": utc_now(),
                "version": 1,
            }
            for i in range(ITEMS)
        ]
        await session.exec(insert(Task).values(tasks))
    return actor, str(projects[0]["id"])


LIST_ENDPOINTS = [
    "/api/v1/users",
    "/api/v1/teams",
    "/api/v1/projects",
    "/api/v1/projects/{p}/tasks",
    "/api/v1/users/me/tasks",
]

# What each list costs: the caller's user, then one statement for the page with its total (and the task counts).
EXPECTED_STATEMENTS = {
    "/api/v1/users": 2,
    "/api/v1/teams": 2,
    "/api/v1/projects": 2,
    "/api/v1/projects/{p}/tasks": 2,
    "/api/v1/users/me/tasks": 2,
}


@pytest.mark.parametrize("route", LIST_ENDPOINTS)
async def test_statements_do_not_grow_with_page_size(
    client: httpx.AsyncClient, populated: tuple[Actor, str], route: str
) -> None:
    actor, project_id = populated
    url = route.replace("{p}", project_id)
    counts = {}
    for limit in (1, 50):
        response = await client.get(url, params={"limit": limit}, headers=actor.headers)
        assert response.status_code == 200, response.text
        assert len(response.json()["items"]) == limit
        counts[limit] = int(response.headers["x-query-count"])
    assert counts[1] == counts[50] == EXPECTED_STATEMENTS[route], counts


async def test_single_reads_are_constant(client: httpx.AsyncClient, populated: tuple[Actor, str]) -> None:
    actor, project_id = populated
    project = await client.get(f"/api/v1/projects/{project_id}", headers=actor.headers)
    assert project.status_code == 200, project.text
    assert project.headers["x-query-count"] == "3"
    assert project.json()["task_counts"] == {"todo": 20, "in_progress": 20, "done": 20}
    task_id = (await client.get(f"/api/v1/projects/{project_id}/tasks", headers=actor.headers)).json()["items"][0]["id"]
    task = await client.get(f"/api/v1/tasks/{task_id}", headers=actor.headers)
    assert task.status_code == 200, task.text
    assert task.headers["x-query-count"] == "2"


async def test_task_pages_past_the_end_and_empty_pages_keep_their_total(
    client: httpx.AsyncClient, populated: tuple[Actor, str], make_user: UserFactory
) -> None:
    actor, project_id = populated
    past = await client.get(f"/api/v1/projects/{project_id}/tasks", params={"offset": 500}, headers=actor.headers)
    assert (past.json()["items"], past.json()["total"]) == ([], ITEMS)
    mine = await client.get("/api/v1/users/me/tasks", params={"offset": 500}, headers=actor.headers)
    assert (mine.json()["items"], mine.json()["total"]) == ([], ITEMS)
    nothing = await client.get(f"/api/v1/projects/{project_id}/tasks?priority=urgent", headers=actor.headers)
    assert (nothing.json()["items"], nothing.json()["total"]) == ([], 0)
    assert nothing.headers["x-query-count"] == "3"  # the page came back empty: then the access check
    outsider = await make_user("outsider@example.com")
    hidden = await client.get(f"/api/v1/projects/{project_id}/tasks", headers=outsider.headers)
    assert hidden.status_code == 404
