"""The ASGI application factory."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from opentelemetry.sdk.trace import TracerProvider

from app.api.openapi import install_openapi
from app.api.router import api_router
from app.api.routes import health
from app.core import metrics
from app.core.config import AuthMode, Settings
from app.core.db import Database
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.middleware import RequestContextMiddleware
from app.core.security import JWKSVerifier
from app.core.telemetry import init_tracing, instrument

VERSION = "0.1.0"


def operation_id(route: APIRoute) -> str:
    """Client-friendly operation ids: `<tag>-<function name>`."""
    tag = route.tags[0] if route.tags else "default"
    return f"{tag}-{route.name}"


def create_app(settings: Settings | None = None, tracer_provider: TracerProvider | None = None) -> FastAPI:
    """Build the application for these settings (read from the environment when omitted).

    Tracing uses tracer_provider, else the process's OTLP provider when OTEL_* configure one, else stays off.
    """
    settings = settings or Settings.from_environment()
    configure_logging(settings)
    database = Database(settings)
    metrics.BUILD_INFO.labels(version=VERSION).set(1)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Under gunicorn the master serves the metrics port; a single process serves its own.
        metrics_server = None
        if settings.METRICS_PORT and not metrics.multiprocess_dir():
            metrics_server = metrics.start_metrics_server(settings.HOST, settings.METRICS_PORT)
        try:
            yield
        finally:
            await database.dispose()
            if metrics_server is not None:
                metrics_server.shutdown()
                metrics_server.server_close()

    app = FastAPI(
        title=settings.PROJECT_NAME,
        version=VERSION,
        description="Team task tracking: teams, projects and tasks.",
        debug=settings.DEBUG,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        openapi_url="/api/v1/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.jwks_verifier = JWKSVerifier(settings) if settings.AUTH_MODE is AuthMode.jwks else None

    install_error_handlers(app)
    install_openapi(app)
    app.include_router(health.router)
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
    app.add_middleware(RequestContextMiddleware, expose_query_count=settings.expose_query_count)
    provider = tracer_provider or init_tracing()
    if provider is not None:
        instrument(app, database.engine, provider)
    return app
