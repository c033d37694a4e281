"""The ASGI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline

from app.api.deps import AppState
from app.api.docs_assets import make_docs_assets_cacheable
from app.api.errors import install_error_handlers, unexpected_error_response
from app.api.limits import BodySizeLimitMiddleware
from app.api.openapi import install_openapi
from app.api.router import api_router
from app.api.routes import health, home
from app.core import metrics
from app.core.config import AuthMode, Settings
from app.core.db import Database
from app.core.logging import configure_logging
from app.core.middleware import RequestContextMiddleware
from app.core.security import JWKSVerifier
from app.core.telemetry import init_tracing, instrument_app, instrument_engine, tracing_configured

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

VERSION = "0.1.0"


def operation_id(route: APIRoute) -> str:
    """Client-friendly operation ids: `<tag>-<function name>`."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None, tracer_provider: "TracerProvider | None" = None) -> FastAPI:
    """Build the application for these settings (read from the environment when omitted).

    Building it opens nothing: the database engine, the metrics and the key fetcher are created when the server
    starts it (the lifespan), so the OpenAPI document can be built without database settings.
    Tracing uses tracer_provider, else the process's OTLP provider when OTEL_* configure one, else stays off.
    That provider is made in the lifespan, in the process that serves: gunicorn builds the app once in its master
    (preload) and forks the workers from it, and an exporter's thread does not survive fork.
    """
    settings = settings or Settings()
    configure_logging(settings)
    traced = tracer_provider is not None or tracing_configured()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        metrics.BUILD_INFO.labels(version=VERSION).set(1)
        provider = tracer_provider or init_tracing()
        database = Database(settings)
        if provider is not None:
            instrument_engine(database.engine, provider)
        # Under gunicorn the master serves the metrics port; a single process serves its own.
        metrics_server = None
        if settings.metrics_port and not metrics.multiprocess_dir():
            metrics_server = metrics.start_metrics_server(settings.HOST, settings.metrics_port)
        try:
            yield AppState(
                database=database,
                jwks_verifier=JWKSVerifier(settings) if settings.AUTH_MODE is AuthMode.jwks else None,
            )
        finally:
            await database.dispose()
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()

    # Swagger UI and ReDoc from assets shipped in the fastapi-offline wheel: the docs work without internet access.
    app = FastAPIOffline(
        title=settings.PROJECT_NAME,
        version=VERSION,
        description="Team task tracking: teams, projects and tasks.",
        debug=settings.DEBUG,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.settings = settings
    make_docs_assets_cacheable(app)

    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(api_router)
    if settings.CORS_ORIGINS:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.CORS_ORIGINS,
            allow_credentials="*" not in settings.CORS_ORIGINS,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["ETag", "X-Request-ID", "X-Query-Count"],
        )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(
        RequestContextMiddleware,
        expose_query_count=settings.expose_query_count,
        error_response=unexpected_error_response,
    )
    if traced:
        instrument_app(app, tracer_provider)  # None: the process's provider, once init_tracing has made it
    return app
