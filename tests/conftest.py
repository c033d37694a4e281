"""Fixtures: a real PostgreSQL migrated by Alembic, the app on httpx, users with tokens."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlmodel import SQLModel

import app.models  # noqa: F401  (registers every table in the metadata)
from app.core.config import Settings
from app.core.db import Database
from app.core.migrations import upgrade
from app.core.security import create_access_token, hash_password
from app.main import create_app
from app.models.users import User
from harness.api import PASSWORD, Actor, AppFactory, UserFactory, app_of, database_of, make_settings, started
from harness.control_plane import NOT_BUILT, ControlPlane, control_plane
from harness.k8s_tools import built
from harness.postgres import create_database, drop_database, libpq_url, postgres_server

TABLES = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)


@pytest.fixture(scope="session")
def admin_url() -> Iterator[str]:
    """A running PostgreSQL server (embedded unless TEST_DATABASE_URL is set)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(admin_url: str) -> Iterator[str]:
    """One database for the session, its schema built by `alembic upgrade head`."""
    url = create_database(admin_url)
    upgrade(make_settings(url))
    yield url
    drop_database(admin_url, url)


@pytest.fixture(scope="session")
def kube() -> Iterator[ControlPlane]:
    """One real control plane (etcd + kube-apiserver) for the session; skipped when the binaries are absent."""
    if not built():
        pytest.skip(NOT_BUILT)
    with control_plane() as plane:
        yield plane


@pytest.fixture
def namespace(kube: ControlPlane) -> str:
    """A fresh namespace per test (no controller-manager runs, so namespaces are left behind, not deleted)."""
    return kube.create_namespace()


@pytest.fixture(scope="session")
def password_hash() -> str:
    """One Argon2 hash for every fixture user (hashing is deliberately slow)."""
    return asyncio.run(hash_password(PASSWORD))


@pytest.fixture
def clean_database(database_url: str) -> None:
    """Every test starts with empty tables."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} CASCADE")  # every table of the models, so a new one starts empty too


@pytest.fixture
def settings(database_url: str, clean_database: None) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The app's database layer on the empty test database, for service tests without HTTP."""
    database = Database(settings)
    yield database
    await database.dispose()


@pytest.fixture
async def make_client(database_url: str, clean_database: None) -> AsyncIterator[AppFactory]:
    """Build an app with setting overrides, start it (its lifespan) and give an httpx client on it."""
    async with AsyncExitStack() as stack:

        async def factory(tracer_provider: TracerProvider | None = None, **overrides: Any) -> httpx.AsyncClient:
            app = create_app(make_settings(database_url, **overrides), tracer_provider=tracer_provider)
            running = await stack.enter_async_context(started(app))
            transport = httpx.ASGITransport(app=running, raise_app_exceptions=False)
            return await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://testserver"))

        yield factory


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    """A client on the app with default test settings."""
    return await make_client()


@pytest.fixture
def make_user(client: httpx.AsyncClient, password_hash: str) -> UserFactory:
    """Insert a user directly (fast) and give back its token."""
    database = database_of(client)
    settings: Settings = app_of(client).state.settings

    async def factory(
        email: str | None = None, *, superuser: bool = False, active: bool = True, full_name: str | None = None
    ) -> Actor:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        async with database.session() as session:
            user = User(
                email=email,
                full_name=full_name,
                hashed_password=password_hash,
                is_superuser=superuser,
                is_active=active,
            )
            session.add(user)
        token = create_access_token(str(user.id), settings)
        return Actor(id=user.id, email=email, token=token.token)

    return factory


@pytest.fixture
async def alice(make_user: UserFactory) -> Actor:
    return await make_user("alice@example.com", full_name="Alice")


@pytest.fixture
async def bob(make_user: UserFactory) -> Actor:
    return await make_user("bob@example.com", full_name="Bob")


@pytest.fixture
async def carol(make_user: UserFactory) -> Actor:
    """A user in no team of the others."""
    return await make_user("carol@example.com", full_name="Carol")
