"""The caller's profile, password, and the superuser's user list."""

import httpx

from harness.api import PASSWORD, Actor, AppFactory, UserFactory, assert_problem, login


async def test_update_profile(client: httpx.AsyncClient, alice: Actor) -> None:
    response = await client.patch(
        "/api/v1/users/me", json={"full_name": "Alice Liddell", "email": "ALICE@wonderland.io"}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["full_name"] == "Alice Liddell"
    assert response.json()["email"] == "alice@wonderland.io"
    # Omitted fields stay; null clears the name.
    cleared = await client.patch("/api/v1/users/me", json={"full_name": None}, headers=alice.headers)
    assert cleared.json()["full_name"] is None
    assert cleared.json()["email"] == "alice@wonderland.io"


async def test_update_profile_to_taken_email_is_conflict(client: httpx.AsyncClient, alice: Actor, bob: Actor) -> None:
    response = await client.patch("/api/v1/users/me", json={"email": "Bob@Example.com"}, headers=alice.headers)
    assert_problem(response, 409)
    same = await client.patch("/api/v1/users/me", json={"email": alice.email}, headers=alice.headers)
    assert same.status_code == 200


async def test_update_profile_refuses_unknown_fields(client: httpx.AsyncClient, alice: Actor) -> None:
    response = await client.patch("/api/v1/users/me", json={"is_superuser": True}, headers=alice.headers)
    assert_problem(response, 422)


async def test_change_password(client: httpx.AsyncClient, alice: Actor) -> None:
    url = "/api/v1/users/me/password"
    wrong = await client.put(
        url, json={"current_password": "nope", "new_password": "brand-new-pass"}, headers=alice.headers
    )
    assert_problem(wrong, 403, "current password")
    short = await client.put(url, json={"current_password": PASSWORD, "new_password": "short"}, headers=alice.headers)
    assert_problem(short, 422)
    ok = await client.put(
        url, json={"current_password": PASSWORD, "new_password": "brand-new-pass"}, headers=alice.headers
    )
    assert ok.status_code == 204
    assert ok.content == b""
    assert (await login(client, alice.email, PASSWORD)).status_code == 401
    assert (await login(client, alice.email, "brand-new-pass")).status_code == 200


async def test_user_list_is_for_superusers(client: httpx.AsyncClient, alice: Actor, make_user: UserFactory) -> None:
    assert_problem(await client.get("/api/v1/users", headers=alice.headers), 403, "superuser")
    admin = await make_user("root@example.com", superuser=True)
    response = await client.get("/api/v1/users", params={"limit": 1}, headers=admin.headers)
    assert response.status_code == 200
    page = response.json()
    assert page["total"] == 2 and page["limit"] == 1 and page["offset"] == 0
    assert len(page["items"]) == 1
    second = (await client.get("/api/v1/users", params={"limit": 1, "offset": 1}, headers=admin.headers)).json()
    assert {page["items"][0]["email"], second["items"][0]["email"]} == {alice.email, admin.email}


async def test_guessing_the_current_password_is_throttled(make_client: AppFactory, alice: Actor) -> None:
    """A stolen token cannot be used to guess the password: wrong current passwords count as failed logins."""
    client = await make_client(LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=2)
    url = "/api/v1/users/me/password"
    for _ in range(2):
        wrong = await client.put(
            url, json={"current_password": "guess-one-more", "new_password": "brand-new-pass"}, headers=alice.headers
        )
        assert_problem(wrong, 403, "current password")
    right = await client.put(
        url, json={"current_password": PASSWORD, "new_password": "brand-new-pass"}, headers=alice.headers
    )
    assert_problem(right, 429, "too many failed logins")
    assert_problem(await login(client, alice.email, PASSWORD), 429)
