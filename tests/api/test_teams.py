"""Teams, roles and membership rules."""

import uuid

import httpx

from harness.api import Actor, UserFactory, add_member, assert_problem, create_project, create_task, create_team


async def test_create_and_list_teams(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> None:
    first = await create_team(client, alice, "Platform")
    await create_team(client, alice, "Payments")
    await create_team(client, bob, "Bob's")
    assert first["role"] == "owner" and first["name"] == "Platform"
    page = (await client.get("/api/v1/teams", headers=alice.headers)).json()
    assert page["total"] == 2
    assert [team["name"] for team in page["items"]] == ["Payments", "Platform"]  # newest first
    assert all(team["role"] == "owner" for team in page["items"])


async def test_team_name_is_validated(client: httpx.AsyncClient, alice: Actor) -> None:
    assert_problem(await client.post("/api/v1/teams", json={"name": ""}, headers=alice.headers), 422)
    assert_problem(await client.post("/api/v1/teams", json={"name": "x" * 201}, headers=alice.headers), 422)


async def test_team_detail_lists_members_with_roles(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> None:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob, "admin")
    detail = (await client.get(f"/api/v1/teams/{team['id']}", headers=bob.headers)).json()
    assert detail["role"] == "admin"
    members = {m["user"]["email"]: m["role"] for m in detail["members"]}
    assert members == {alice.email: "owner", bob.email: "admin"}
    assert all("joined_at" in m for m in detail["members"])


async def test_non_members_get_404_for_everything(client: httpx.AsyncClient, alice: Actor, carol: Actor) -> None:
    team = await create_team(client, alice)
    base = f"/api/v1/teams/{team['id']}"
    assert_problem(await client.get(base, headers=carol.headers), 404)
    assert_problem(await client.post(f"{base}/invitations", json={"email": carol.email}, headers=carol.headers), 404)
    assert_problem(await client.get(f"{base}/invitations", headers=carol.headers), 404)
    assert_problem(await client.delete(f"{base}/members/{alice.id}", headers=carol.headers), 404)
    assert_problem(await client.post(f"{base}/projects", json={"name": "x"}, headers=carol.headers), 404)
    # The same answer as for a team that does not exist at all.
    missing = await client.get(f"/api/v1/teams/{uuid.uuid4()}", headers=carol.headers)
    assert missing.json()["detail"] == (await client.get(base, headers=carol.headers)).json()["detail"]


async def test_only_instance_superusers_add_members_directly(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor, make_user: UserFactory
) -> None:
    """Team owners invite by email; adding a registered user directly would tell them who has an account."""
    team = await create_team(client, alice)
    url = f"/api/v1/teams/{team['id']}/members"
    for unknown_or_known in ("ghost@example.com", bob.email):
        refused = await client.post(url, json={"email": unknown_or_known}, headers=alice.headers)
        assert_problem(refused, 403, "invite them by email instead")
    # The same refusal for a team that does not exist: nothing is looked up for callers who may not add.
    elsewhere = f"/api/v1/teams/{uuid.uuid4()}/members"
    assert_problem(await client.post(elsewhere, json={"email": bob.email}, headers=carol.headers), 403)
    root = await make_user("root@example.com", superuser=True)
    added = await client.post(url, json={"email": "BOB@example.com", "role": "admin"}, headers=root.headers)
    assert added.status_code == 201, added.text
    assert added.json()["user"]["email"] == bob.email and added.json()["role"] == "admin"
    assert_problem(await client.post(url, json={"email": bob.email}, headers=root.headers), 409, "already")
    # A body naming nobody is invalid input (422), not a missing resource: the team exists.
    nobody = assert_problem(await client.post(url, json={"email": "ghost@example.com"}, headers=root.headers), 422)
    assert "no user is registered" in nobody["detail"] and nobody["type"].endswith("/validation-error")
    assert_problem(await client.post(elsewhere, json={"email": bob.email}, headers=root.headers), 404)
    assert_problem(await client.post(url, json={"email": carol.email, "role": "boss"}, headers=root.headers), 422)


async def test_admins_cannot_make_owners(client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor) -> None:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob, "admin")
    url = f"/api/v1/teams/{team['id']}/invitations"
    assert_problem(await client.post(url, json={"email": carol.email, "role": "owner"}, headers=bob.headers), 403)
    invited = await client.post(url, json={"email": carol.email, "role": "member"}, headers=bob.headers)
    assert invited.status_code == 202


async def test_remove_member_rules(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor, make_user: UserFactory
) -> None:
    team = await create_team(client, alice)
    dave = await make_user("dave@example.com")
    for member in (bob, carol):
        await add_member(client, alice, team["id"], member)
    await add_member(client, alice, team["id"], dave, "admin")
    base = f"/api/v1/teams/{team['id']}/members"
    # A plain member cannot remove others, but can leave.
    assert_problem(await client.delete(f"{base}/{carol.id}", headers=bob.headers), 403)
    assert (await client.delete(f"{base}/{bob.id}", headers=bob.headers)).status_code == 204
    assert_problem(await client.get(f"/api/v1/teams/{team['id']}", headers=bob.headers), 404)
    # An admin removes members but not owners.
    assert (await client.delete(f"{base}/{carol.id}", headers=dave.headers)).status_code == 204
    assert_problem(await client.delete(f"{base}/{alice.id}", headers=dave.headers), 403)
    assert_problem(await client.delete(f"{base}/{carol.id}", headers=dave.headers), 404)
    # The last owner cannot leave.
    assert_problem(await client.delete(f"{base}/{alice.id}", headers=alice.headers), 409, "last owner")
    await add_member(client, alice, team["id"], bob, "owner")
    assert (await client.delete(f"{base}/{alice.id}", headers=alice.headers)).status_code == 204
    detail = (await client.get(f"/api/v1/teams/{team['id']}", headers=bob.headers)).json()
    assert {m["user"]["email"]: m["role"] for m in detail["members"]} == {dave.email: "admin", bob.email: "owner"}


async def test_bad_ids_are_422(client: httpx.AsyncClient, alice: Actor) -> None:
    body = assert_problem(await client.get("/api/v1/teams/not-a-uuid", headers=alice.headers), 422)
    assert body["errors"][0]["loc"] == ["path", "team_id"]


async def test_owners_removing_each_other_concurrently_never_deadlock(
    client: httpx.AsyncClient, make_user: UserFactory
) -> None:
    """Parallel removals serialize on the team: each is 204, 404 or 409, never a 503, and one owner stays."""
    import asyncio

    for _ in range(3):
        owners = [await make_user() for _ in range(4)]
        team = await create_team(client, owners[0])
        for owner in owners[1:]:
            await add_member(client, owners[0], team["id"], owner, "owner")
        removals = [
            client.delete(f"/api/v1/teams/{team['id']}/members/{owners[(i + 1) % 4].id}", headers=owner.headers)
            for i, owner in enumerate(owners)
        ] + [client.delete(f"/api/v1/teams/{team['id']}/members/{owner.id}", headers=owner.headers) for owner in owners]
        responses = await asyncio.gather(*removals)
        assert {r.status_code for r in responses} <= {204, 404, 409}, [(r.status_code, r.text) for r in responses]
        survivors = [
            o for o in owners if (await client.get(f"/api/v1/teams/{team['id']}", headers=o.headers)).status_code == 200
        ]
        assert len(survivors) >= 1
        detail = (await client.get(f"/api/v1/teams/{team['id']}", headers=survivors[0].headers)).json()
        assert any(member["role"] == "owner" for member in detail["members"])


async def test_removed_member_is_unassigned_from_the_team_tasks(
    client: httpx.AsyncClient, alice: Actor, bob: Actor
) -> None:
    team = await create_team(client, alice)
    other_team = await create_team(client, bob, "Bob's own")
    await add_member(client, alice, team["id"], bob)
    project = await create_project(client, alice, team["id"])
    own_project = await create_project(client, bob, other_team["id"])
    task = await create_task(client, alice, project["id"], assignee_id=str(bob.id))
    kept = await create_task(client, bob, own_project["id"], assignee_id=str(bob.id))
    removed = await client.delete(f"/api/v1/teams/{team['id']}/members/{bob.id}", headers=alice.headers)
    assert removed.status_code == 204
    after = (await client.get(f"/api/v1/tasks/{task['id']}", headers=alice.headers)).json()
    assert after["assignee"] is None
    assert after["version"] == task["version"] + 1
    # Tasks in the member's other teams keep their assignee.
    assert (await client.get(f"/api/v1/tasks/{kept['id']}", headers=bob.headers)).json()["assignee"]["id"] == str(
        bob.id
    )


async def test_a_deadlock_is_a_409_not_an_outage(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, database_url: str
) -> None:
    """A real deadlock between a request and another session: the request's transaction loses, and says so."""
    import asyncio

    import psycopg

    from harness.postgres import libpq_url

    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob)
    project = await create_project(client, alice, team["id"])
    task = await create_task(client, alice, project["id"], assignee_id=str(bob.id))
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url)) as other:
        # Only the request's backend runs the deadlock check (after 1 s), so it is the one PostgreSQL fails.
        await other.execute("SET deadlock_timeout = '60s'")
        await other.execute("SELECT id FROM tasks WHERE id = %s FOR UPDATE", [task["id"]])
        # The removal locks the team, then waits for the task row this session holds.
        removal = asyncio.create_task(
            client.delete(f"/api/v1/teams/{team['id']}/members/{bob.id}", headers=alice.headers)
        )
        async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as watcher:
            for _ in range(200):
                waiting = await watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                row = await waiting.fetchone()
                if row and row[0]:
                    break
                await asyncio.sleep(0.05)
        # ...and now this session waits for the team row: a cycle, which PostgreSQL breaks by failing the request.
        locking = asyncio.create_task(other.execute("SELECT id FROM teams WHERE id = %s FOR UPDATE", [team["id"]]))
        response = await removal
        await locking
        await other.rollback()
    assert_problem(response, 409, "try again")
    assert response.headers["retry-after"] == "1"
    still = await client.get(f"/api/v1/teams/{team['id']}", headers=bob.headers)
    assert still.status_code == 200, "the failed removal was rolled back"
