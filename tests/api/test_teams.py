"""Teams, roles and membership rules."""

import uuid

import httpx

from harness.api import Actor, UserFactory, add_member, assert_problem, create_team


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
    assert_problem(await client.post(f"{base}/members", json={"email": carol.email}, headers=carol.headers), 404)
    assert_problem(await client.delete(f"{base}/members/{alice.id}", headers=carol.headers), 404)
    assert_problem(await client.post(f"{base}/projects", json={"name": "x"}, headers=carol.headers), 404)
    # The same answer as for a team that does not exist at all.
    missing = await client.get(f"/api/v1/teams/{uuid.uuid4()}", headers=carol.headers)
    assert missing.json()["detail"] == (await client.get(base, headers=carol.headers)).json()["detail"]


async def test_add_member_rules(client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor) -> None:
    team = await create_team(client, alice)
    url = f"/api/v1/teams/{team['id']}/members"
    added = await client.post(url, json={"email": "BOB@example.com"}, headers=alice.headers)
    assert added.status_code == 201
    assert added.json()["user"]["email"] == bob.email and added.json()["role"] == "member"
    assert_problem(await client.post(url, json={"email": bob.email}, headers=alice.headers), 409, "already")
    assert_problem(await client.post(url, json={"email": "ghost@example.com"}, headers=alice.headers), 404)
    assert_problem(await client.post(url, json={"email": carol.email}, headers=bob.headers), 403)
    assert_problem(await client.post(url, json={"email": carol.email, "role": "boss"}, headers=alice.headers), 422)


async def test_admins_cannot_make_owners(client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor) -> None:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob, "admin")
    url = f"/api/v1/teams/{team['id']}/members"
    assert_problem(await client.post(url, json={"email": carol.email, "role": "owner"}, headers=bob.headers), 403)
    assert (
        await client.post(url, json={"email": carol.email, "role": "member"}, headers=bob.headers)
    ).status_code == 201


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
