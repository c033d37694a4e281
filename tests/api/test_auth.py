"""Local authentication: sign-up, token, bearer checks."""

import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from harness.api import PASSWORD, Actor, UserFactory, app_of, assert_problem, database_of, login


async def signup(
    client: httpx.AsyncClient, email: str, password: str = "s3cret-pass", **extra: object
) -> httpx.Response:
    return await client.post("/api/v1/auth/signup", json={"email": email, "password": password, **extra})


async def test_signup_then_login_then_me(client: httpx.AsyncClient) -> None:
    response = await signup(client, "  New.User@Example.COM ", full_name="New User")
    assert response.status_code == 201, response.text
    user = response.json()
    assert user["email"] == "new.user@example.com"
    assert user["full_name"] == "New User"
    assert user["is_active"] is True and user["is_superuser"] is False
    assert "password" not in response.text and "hashed" not in response.text
    assert datetime.fromisoformat(user["created_at"]).tzinfo is not None

    token = await login(client, "NEW.USER@example.com", "s3cret-pass")
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 60 * 60

    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_signup_with_taken_email_is_conflict(client: httpx.AsyncClient) -> None:
    assert (await signup(client, "dup@example.com")).status_code == 201
    assert_problem(await signup(client, "DUP@example.com"), 409, "already registered")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email", "password": "longenough"}, "email"),
        ({"email": "a@example.com", "password": "short"}, "password"),
        ({"email": "a@example.com"}, "password"),
        ({"email": "a@example.com", "password": "longenough", "is_superuser": True}, "is_superuser"),
    ],
)
async def test_signup_validation(client: httpx.AsyncClient, payload: dict[str, object], field: str) -> None:
    body = assert_problem(await client.post("/api/v1/auth/signup", json=payload), 422)
    assert any(error["loc"][-1] == field for error in body["errors"])
    assert all({"loc", "msg", "type"} <= error.keys() for error in body["errors"])


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient, alice: Actor) -> None:
    wrong = await login(client, alice.email, "not-the-password")
    unknown = await login(client, "nobody@example.com", PASSWORD)
    for response in (wrong, unknown):
        assert_problem(response, 401, "incorrect email or password")
        assert response.headers["www-authenticate"] == "Bearer"
    assert wrong.json() == unknown.json()


async def test_unknown_email_still_verifies_a_hash(client: httpx.AsyncClient, alice: Actor) -> None:
    """No timing shortcut: an unknown email costs an Argon2 verification like a wrong password."""

    async def timed(email: str) -> float:
        started = time.perf_counter()
        await login(client, email, "not-the-password")
        return time.perf_counter() - started

    known = min([await timed(alice.email) for _ in range(3)])
    unknown = min([await timed("nobody@example.com") for _ in range(3)])
    # Both include one Argon2 verification (tens of ms); a missing check would be ~1 ms.
    assert unknown > known / 3


async def test_inactive_user_cannot_log_in_or_use_a_token(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    inactive = await make_user("gone@example.com", active=False)
    assert_problem(await login(client, inactive.email, PASSWORD), 401)
    assert_problem(await client.get("/api/v1/users/me", headers=inactive.headers), 401, "inactive")


async def test_login_upgrades_an_outdated_hash(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher
    from sqlmodel import select

    from app.models.users import User

    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8192),)).hash(PASSWORD)
    actor = await make_user("old@example.com")
    database = database_of(client)
    async with database.session() as session:
        user = (await session.exec(select(User).where(User.id == actor.id))).one()
        user.hashed_password = weak
        session.add(user)
    assert (await login(client, actor.email, PASSWORD)).status_code == 200
    async with database.session() as session:
        stored = (await session.exec(select(User).where(User.id == actor.id))).one().hashed_password
    assert stored != weak and stored is not None and "t=1" not in stored


@pytest.mark.parametrize(
    "header",
    [None, "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz"],
)
async def test_missing_or_malformed_token(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/v1/users/me", headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_expired_and_forged_tokens(client: httpx.AsyncClient, alice: Actor) -> None:
    settings = app_of(client).state.settings
    key = settings.SECRET_KEY.get_secret_value()
    past = datetime.now(UTC) - timedelta(minutes=5)
    expired = jwt.encode({"sub": str(alice.id), "exp": past, "type": "access"}, key, algorithm="HS256")
    assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {expired}"}), 401, "expired")
    future = datetime.now(UTC) + timedelta(minutes=5)
    forged = jwt.encode({"sub": str(alice.id), "exp": future, "type": "access"}, "another-key" * 4, algorithm="HS256")
    assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}), 401)
    unsigned = jwt.encode({"sub": str(alice.id), "exp": future, "type": "access"}, "", algorithm="none")
    assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {unsigned}"}), 401)
    not_a_uuid = jwt.encode({"sub": "42", "exp": future, "type": "access"}, key, algorithm="HS256")
    assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {not_a_uuid}"}), 401)
    no_type = jwt.encode({"sub": str(alice.id), "exp": future}, key, algorithm="HS256")
    assert_problem(await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {no_type}"}), 401)


async def test_token_of_a_deleted_user_is_refused(client: httpx.AsyncClient, alice: Actor) -> None:
    from sqlalchemy import delete
    from sqlmodel import col

    from app.models.users import User

    async with database_of(client).session() as session:
        await session.exec(delete(User).where(col(User.id) == alice.id))
    assert_problem(await client.get("/api/v1/users/me", headers=alice.headers), 401, "no longer exists")
