"""Local authentication: sign-up, token, bearer checks."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

import app.services.users as users_service
from app.core import security
from app.core.errors import NotAuthenticated
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


async def test_a_token_that_worked_is_refused_once_it_expires(
    client: httpx.AsyncClient, alice: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checked token is remembered (its signature is not checked again), but never past its expiry, and never
    for another key."""
    settings = app_of(client).state.settings
    key = settings.SECRET_KEY.get_secret_value()
    expires = datetime.now(UTC) + timedelta(minutes=5)
    token = jwt.encode({"sub": str(alice.id), "exp": expires, "type": "access"}, key, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    checked = security._verified_local_token.cache_info()
    for _ in range(2):  # checked, then remembered
        assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200
    remembered = security._verified_local_token.cache_info()
    assert (remembered.misses - checked.misses, remembered.hits - checked.hits) == (1, 1)
    monkeypatch.setattr(security, "wall_clock", lambda: float(int(expires.timestamp())))
    assert_problem(await client.get("/api/v1/users/me", headers=headers), 401, "expired")
    monkeypatch.undo()
    assert (await client.get("/api/v1/users/me", headers=headers)).status_code == 200

    other_key = settings.model_copy(update={"SECRET_KEY": type(settings.SECRET_KEY)("another-key" * 4)})
    with pytest.raises(NotAuthenticated, match="not valid"):
        security.decode_local_token(token, other_key)


async def test_token_of_a_deleted_user_is_refused(client: httpx.AsyncClient, alice: Actor) -> None:
    from sqlalchemy import delete
    from sqlmodel import col

    from app.models.users import User

    async with database_of(client).session() as session:
        await session.exec(delete(User).where(col(User.id) == alice.id))
    assert_problem(await client.get("/api/v1/users/me", headers=alice.headers), 401, "no longer exists")


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("weak@example.com", "password"),
        ("weak@example.com", "12345678"),
        ("weak@example.com", "Password1"),
        ("someone.long@example.com", "someone.long@example.com"),
        ("someone.long@example.com", "SOMEONE.LONG"),
    ],
)
async def test_weak_passwords_are_refused(client: httpx.AsyncClient, email: str, password: str) -> None:
    body = assert_problem(await signup(client, email, password), 422, "password")
    assert body["errors"][0]["loc"][-1] == "password"


async def test_a_password_change_ends_earlier_tokens(client: httpx.AsyncClient, alice: Actor) -> None:
    old_token = (await login(client, alice.email, PASSWORD)).json()["access_token"]
    changed = await client.put(
        "/api/v1/users/me/password",
        json={"current_password": PASSWORD, "new_password": "brand-new-pass"},
        headers=alice.headers,
    )
    assert changed.status_code == 204
    for token in (old_token, alice.token):
        response = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert_problem(response, 401, "password")
    new_token = (await login(client, alice.email, "brand-new-pass")).json()["access_token"]
    assert (await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {new_token}"})).status_code == 200


async def test_weak_new_password_is_refused(client: httpx.AsyncClient, alice: Actor) -> None:
    for weak in ("password", "alice@example.com"):
        response = await client.put(
            "/api/v1/users/me/password",
            json={"current_password": PASSWORD, "new_password": weak},
            headers=alice.headers,
        )
        assert_problem(response, 422, "password")


@pytest.mark.parametrize("email", ["dev@none.test", "a.b+tag@sub.example.org"])
async def test_syntactically_valid_emails_are_accepted(client: httpx.AsyncClient, email: str) -> None:
    """Nothing is looked up; `.test` is for testing and accepted."""
    response = await signup(client, email, "long-enough-pw")
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("email", ["x@localhost", "x@printer.local", "x@nodot"])
async def test_addresses_that_never_receive_mail_are_refused(client: httpx.AsyncClient, email: str) -> None:
    body = assert_problem(await signup(client, email, "long-enough-pw"), 422, "email")
    assert body["errors"][0]["loc"][-1] == "email"


async def test_no_pooled_connection_is_held_while_a_password_is_hashed_or_checked(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hash takes tens of milliseconds: logins beyond the pool's size must not queue for a connection behind it."""
    pool = database_of(client).engine.pool
    held: list[int] = []

    def observed(real: Any) -> Any:
        async def call(*args: Any) -> Any:
            held.append(pool.checkedout())  # type: ignore[attr-defined]
            return await real(*args)

        return call

    monkeypatch.setattr(users_service, "hash_password", observed(security.hash_password))
    monkeypatch.setattr(users_service, "verify_password", observed(security.verify_password))
    assert (await signup(client, "hasher@example.com", "first-pass-123")).status_code == 201
    assert (await login(client, "hasher@example.com", "wrong-pass-123")).status_code == 401
    token = (await login(client, "hasher@example.com", "first-pass-123")).json()["access_token"]
    changed = await client.put(
        "/api/v1/users/me/password",
        json={"current_password": "first-pass-123", "new_password": "second-pass-456"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert changed.status_code == 204, changed.text
    assert (await login(client, "hasher@example.com", "second-pass-456")).status_code == 200
    # signup, two logins, the password change (check and new hash), the last login: no connection out meanwhile
    assert held == [0, 0, 0, 0, 0, 0]
