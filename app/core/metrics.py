"""Prometheus metrics: defined once, recorded by the middleware and engine events, served on METRICS_PORT."""

import os
import threading
from collections.abc import Iterable
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

# Latency buckets fine enough for p50/p95/p99 from 5 ms to 10 s.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 7.5, 10.0)
QUERY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STATEMENT_BUCKETS = (0, 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100)

HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests answered.", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request.", ["method", "route"], buckets=LATENCY_BUCKETS
)
HTTP_IN_PROGRESS = Gauge(
    "http_requests_in_progress", "HTTP requests being answered.", ["method"], multiprocess_mode="livesum"
)
HTTP_DB_QUERIES = Histogram(
    "http_request_db_queries", "SQL statements run by one HTTP request.", ["route"], buckets=STATEMENT_BUCKETS
)
DB_QUERY_DURATION = Histogram(
    "db_query_duration_seconds", "Time a SQL statement took.", ["operation"], buckets=QUERY_BUCKETS
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use", "Database connections checked out of the pool.", multiprocess_mode="livesum"
)
DB_POOL_OPEN = Gauge("db_pool_connections_open", "Database connections open.", multiprocess_mode="livesum")
DB_POOL_CAPACITY = Gauge(
    "db_pool_connections_max", "Most connections the pools may open (size + overflow).", multiprocess_mode="livesum"
)
BUILD_INFO = Gauge("bosun_build_info", "The running build.", ["version"], multiprocess_mode="max")


_M = TypeVar("_M", Counter, Gauge, Histogram)
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def labelled(metric: _M, *values: str) -> _M:
    """`metric.labels(*values)`, looked up once per process and label values (labels() locks and validates).

    Only for label values from small fixed sets (methods, route templates, statuses, statement kinds).
    """
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def multiprocess_dir() -> str | None:
    """The shared metrics folder under gunicorn, None in a single process."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render_latest() -> bytes:
    """One scrape: a fresh registry over the multiprocess files, or the process registry."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _metrics_app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    if environ.get("PATH_INFO") not in ("/metrics", "/"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]
    body = render_latest()
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def start_metrics_server(host: str, port: int) -> WSGIServer:
    """Serve /metrics on its own port from a daemon thread."""
    server = make_server(host, port, _metrics_app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
