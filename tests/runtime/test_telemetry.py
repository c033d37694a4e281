"""Traces: server and database spans (SQLAlchemy 2.1), in memory and end to end over OTLP under gunicorn."""

import json
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.core.telemetry import tracing_configured
from harness.api import Actor, AppFactory, UserFactory, signup_and_login
from harness.gunicorn import gunicorn_server
from harness.otlp import Receiver, otlp_receiver


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


async def test_server_and_database_spans(
    make_client: AppFactory, make_user: UserFactory, exporter: InMemorySpanExporter
) -> None:
    assert sqlalchemy.__version__.startswith("2.1")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = await make_client(tracer_provider=provider)
    user: Actor = await make_user("traced@example.com")

    response = await client.get("/api/v1/users/me", headers=user.headers)
    assert response.status_code == 200
    await client.get("/healthz")
    await client.get("/readyz")

    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    assert [s.name for s in server] == ["GET /api/v1/users/me"]
    assert server[0].attributes is not None
    assert server[0].attributes["http.route"] == "/api/v1/users/me"
    database = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert database, "no database span: SQLAlchemy instrumentation did nothing"
    assert all(s.context.trace_id == server[0].context.trace_id for s in database)
    statements = [str((s.attributes or {}).get("db.statement", "")) for s in database]
    assert not [s for s in statements if "alembic_version" in s]  # probes are not traced
    assert any(statement.startswith("SELECT") and "users" in statement for statement in statements)


def test_tracing_is_off_without_otel_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    assert tracing_configured() is False
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert tracing_configured() is True
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert tracing_configured() is False
    monkeypatch.delenv("OTEL_TRACES_EXPORTER")
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert tracing_configured() is False


@pytest.mark.usefixtures("clean_database")
def test_spans_reach_an_otlp_receiver_from_gunicorn(database_url: str, tmp_path: Path) -> None:
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "bosun-e2e",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with gunicorn_server(database_url, tmp_path, env=env) as server:
            token = signup_and_login(server.api, "otlp@example.com", "otlp-pass-123")
            response = httpx.get(
                f"{server.api}/api/v1/users/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "otlp-1"}
            )
            assert response.status_code == 200
            httpx.get(f"{server.api}/healthz")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                names = {s.name for s in receiver.snapshot()}
                if "GET /api/v1/users/me" in names:
                    break
                time.sleep(0.1)
        spans = receiver.snapshot()  # the SIGTERM above flushed what was left
        logs = server.logs()

    names = {s.name for s in spans}
    assert "GET /api/v1/users/me" in names
    assert "POST /api/v1/auth/signup" in names
    assert not [s for s in spans if "healthz" in s.name or "readyz" in s.name]
    assert {s.service_name for s in spans} == {"bosun-e2e"}
    me = next(s for s in spans if s.name == "GET /api/v1/users/me")
    db_spans = [s for s in spans if s.trace_id == me.trace_id and s.kind == 3]  # SPAN_KIND_CLIENT
    assert db_spans, "no database span under the request"
    # The access log line of that request carries the same trace id.
    access = [json.loads(line) for line in logs.splitlines() if '"request_id": "otlp-1"' in line]
    assert access
    assert access[0]["trace_id"] == me.trace_id
    assert len(access[0]["span_id"]) == 16


@pytest.mark.usefixtures("clean_database")
@pytest.mark.parametrize("ending", ["recycled", "sigterm"])
def test_a_worker_sends_its_queued_spans_before_it_exits(database_url: str, tmp_path: Path, ending: str) -> None:
    """Spans still queued when a worker ends (MAX_REQUESTS, or SIGTERM) are exported on its way out, not lost."""
    with otlp_receiver() as receiver:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "600000",  # nothing is exported on the schedule during the test
            "MAX_REQUESTS": "4" if ending == "recycled" else "0",
            "MAX_REQUESTS_JITTER": "0",
        }
        with gunicorn_server(database_url, tmp_path, env=env, workers=1) as server:
            token = signup_and_login(server.api, "otlp-exit@example.com", "otlp-pass-123")
            for _ in range(6):
                response = httpx.get(f"{server.api}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 200
                time.sleep(0.15)  # uvicorn notices MAX_REQUESTS within 0.1 s
            if ending == "recycled":  # the retired worker has sent them while the server still runs
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and "GET /api/v1/users/me" not in span_names(receiver):
                    time.sleep(0.1)
                names = span_names(receiver)
            else:
                assert server.stop() == 0
                names = span_names(receiver)
    assert "POST /api/v1/auth/signup" in names
    assert "GET /api/v1/users/me" in names


def span_names(receiver: Receiver) -> set[str]:
    return {span.name for span in receiver.snapshot()}
