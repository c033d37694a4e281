"""Helpers that drive the API as a client does, and the settings every in-process test app starts from."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update
from sqlmodel import col
from starlette.types import Receive, Scope, Send

from app.core.config import Settings
from app.core.db import Database
from app.models.invitations import Invitation
from app.services.invitations import new_token, token_hash

PASSWORD = "correct-horse-battery"
TEST_SECRET_KEY = "test-secret-key-0123456789abcdef-0123456789"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    """Test settings from a plain mapping (never the developer's environment or `.env`).

    No SMTP, query counts on, and no metrics port: in-process apps run their lifespan, which would serve one.
    """
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "SMTP_HOST": None,
        "AUTH_MODE": "local",
        "CORS_ORIGINS": [],
        "EXPOSE_QUERY_COUNT": True,
        "LOG_FORMAT": "text",
        "SECRET_KEY": TEST_SECRET_KEY,
        "METRICS_PORT": 0,
        # Every request reads its user afresh, so statement counts do not depend on what ran before.
        "USER_CACHE_SECONDS": 0,
    }
    values.update(overrides)
    return Settings.from_mapping(values)


class StartedApp:
    """An app whose lifespan runs, served as a server serves it: each request gets a copy of the lifespan state."""

    def __init__(self, app: FastAPI, state: Mapping[str, Any]) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(self.state)}
        await self.app(scope, receive, send)


@asynccontextmanager
async def started(app: FastAPI) -> AsyncIterator[StartedApp]:
    """Run the app's lifespan (startup before, shutdown after) around its use in process."""
    async with app.router.lifespan_context(app) as state:
        yield StartedApp(app, state or {})


def _started_app(client: httpx.AsyncClient) -> StartedApp:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    app = transport.app
    assert isinstance(app, StartedApp)
    return app


def app_of(client: httpx.AsyncClient) -> FastAPI:
    """The FastAPI app behind an in-process client."""
    return _started_app(client).app


def database_of(client: httpx.AsyncClient) -> Database:
    """The database of the app behind an in-process client (created by its lifespan)."""
    database = _started_app(client).state["database"]
    assert isinstance(database, Database)
    return database


@dataclass
class Actor:
    """A user with a valid token."""

    id: uuid.UUID
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


# The shapes of the `make_client` and `make_user` fixtures.
AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]
UserFactory = Callable[..., Awaitable[Actor]]


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    """POST the OAuth2 password form (its `username` is the email)."""
    return await client.post("/api/v1/auth/token", data={"username": email, "password": password})


def signup_and_login(api: str, email: str, password: str) -> str:
    """Sign up on a running server and return a bearer token."""
    assert httpx.post(f"{api}/api/v1/auth/signup", json={"email": email, "password": password}).status_code == 201
    response = httpx.post(f"{api}/api/v1/auth/token", data={"username": email, "password": password})
    assert response.status_code == 200
    token: str = response.json()["access_token"]
    return token


async def create_team(client: httpx.AsyncClient, owner: Actor, name: str = "Platform") -> dict[str, Any]:
    response = await client.post("/api/v1/teams", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def add_member(
    client: httpx.AsyncClient, actor: Actor, team_id: str, member: Actor, role: str = "member"
) -> None:
    """`member` joins the team as `role`, invited by `actor` through the API (who must be allowed to invite).

    The emailed token is not seen here: the invitation gets a fresh token written to it, which `member` accepts
    through the API like the one from the email.
    """
    invited = await client.post(
        f"/api/v1/teams/{team_id}/invitations", json={"email": member.email, "role": role}, headers=actor.headers
    )
    assert invited.status_code == 202, invited.text
    token = new_token()
    async with database_of(client).session() as session:
        await session.exec(
            update(Invitation)
            .where(col(Invitation.id) == uuid.UUID(invited.json()["id"]))
            .values(token_hash=token_hash(token))
        )
    accepted = await client.post("/api/v1/invitations/accept", json={"token": token}, headers=member.headers)
    assert accepted.status_code == 200, accepted.text


async def create_project(
    client: httpx.AsyncClient, actor: Actor, team_id: str, name: str = "Roadmap"
) -> dict[str, Any]:
    response = await client.post(f"/api/v1/teams/{team_id}/projects", json={"name": name}, headers=actor.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def create_task(client: httpx.AsyncClient, actor: Actor, project_id: str, **fields: Any) -> dict[str, Any]:
    payload = {"title": "Write the docs", **fields}
    response = await client.post(f"/api/v1/projects/{project_id}/tasks", json=payload, headers=actor.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def assert_problem(response: httpx.Response, status: int, detail_contains: str = "") -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert detail_contains.lower() in body["detail"].lower()
    return body
