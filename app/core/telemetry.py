"""OpenTelemetry tracing, configured only by the standard OTEL_* variables and started in each worker process.

OpenTelemetry is imported only when tracing is used: with tracing off the service never loads it.
"""

import os
import sys
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.ext.asyncio import AsyncEngine

# Probes and scrapes would drown real traffic in spans.
EXCLUDED_URLS = "healthz,readyz,metrics"

_provider: "TracerProvider | None" = None


def tracing_configured() -> bool:
    """Tracing is on when an OTLP endpoint is set, the SDK is not disabled and the exporter is not `none`."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "otlp").lower() == "none":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def init_tracing() -> "TracerProvider | None":
    """Create this process's tracer provider with an OTLP/HTTP exporter, once per process.

    Call it where the process will serve (a worker after fork): the exporter's thread does not survive fork.
    """
    global _provider
    if _provider is not None or not tracing_configured():
        return _provider
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    os.environ.setdefault("OTEL_SERVICE_NAME", "bosun")
    # Resource.create and the exporter read OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_*.
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporter (worker exit)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


def instrument_app(app: "FastAPI", provider: "TracerProvider | None") -> None:
    """Server spans for the app's requests.

    Without a provider the spans go to the process's global one: the app can then be built before the worker
    process exists (gunicorn's preload) and trace once init_tracing has run in it.
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls=EXCLUDED_URLS)


def instrument_engine(engine: "AsyncEngine", provider: "TracerProvider") -> None:
    """Database spans for an engine (SQLAlchemy only, not psycopg too: that would double them)."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeterProvider

    # EngineTracer instruments one engine without the instrumentor's process-wide create_engine patching and its
    # `sqlalchemy<2.1` requirement check (which silently skips SQLAlchemy 2.1); tests prove the spans appear. It is
    # not public API: tests/test_library_internals.py checks its signature.
    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", tracer_provider=provider)
    usage = NoOpMeterProvider().get_meter(__name__).create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, engine.sync_engine, usage)  # type: ignore[no-untyped-call]


def untraced() -> AbstractContextManager[object]:
    """Keep what runs inside out of the traces (probes); with OpenTelemetry never loaded there is nothing to do."""
    if "opentelemetry.context" not in sys.modules:
        return nullcontext()
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    return suppress_instrumentation()


def current_trace_ids() -> tuple[str | None, str | None]:
    """(trace_id, span_id) of the active span as hex, for log correlation (none while OpenTelemetry is unused)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None, None
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
