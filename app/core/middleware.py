"""ASGI middleware: request id, SQL statement count and one access log line per request."""

import logging
import re
import time
import uuid
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics
from app.core.db import count_queries
from app.core.logging import request_id_var

access_logger = logging.getLogger("bosun.access")

_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED_ROUTE = "<unmatched>"
# Bounded label values: anything else is counted as OTHER.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The matched route's template (`/api/v1/tasks/{task_id}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Tags each request with an id, counts its SQL statements and logs it once."""

    def __init__(self, app: ASGIApp, *, expose_query_count: bool, error_response: Callable[[], ASGIApp]) -> None:
        self.app = app
        self.expose_query_count = expose_query_count
        # The answer to an unhandled error (a problem+json 500, rendered by the API layer).
        self.error_response = error_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        status_sent = False
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        metrics.labelled(metrics.HTTP_IN_PROGRESS, method).inc()
        with count_queries() as counter:

            async def send_with_headers(message: Message) -> None:
                nonlocal status, status_sent
                if message["type"] == "http.response.start":
                    status, status_sent = message["status"], True
                    headers = MutableHeaders(scope=message)
                    headers["X-Request-ID"] = request_id
                    # Browsers must not guess a type other than the one declared (a JSON body is never HTML).
                    headers["X-Content-Type-Options"] = "nosniff"
                    # Tokens and personal data: no cache keeps a response unless the route says otherwise.
                    headers.setdefault("Cache-Control", "no-store")
                    if self.expose_query_count:
                        headers["X-Query-Count"] = str(counter.count)
                await send(message)

            try:
                await self.app(scope, receive, send_with_headers)
            except Exception:
                # Answered here rather than by Starlette's outermost handler, so the 500 keeps our headers.
                access_logger.exception("unhandled error on %s %s", scope["method"], scope["path"])
                if status_sent:
                    raise
                await self.error_response()(scope, receive, send_with_headers)
            finally:
                metrics.labelled(metrics.HTTP_IN_PROGRESS, method).dec()
                elapsed = time.perf_counter() - started
                route = route_template(scope)
                metrics.labelled(metrics.HTTP_REQUESTS, method, route, str(status)).inc()
                metrics.labelled(metrics.HTTP_DURATION, method, route).observe(elapsed)
                metrics.labelled(metrics.HTTP_DB_QUERIES, route).observe(counter.count)
                client = scope.get("client")
                access_logger.info(
                    "%s %s %s",
                    scope["method"],
                    scope["path"],
                    status,
                    extra={
                        "method": scope["method"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "query_count": counter.count,
                        "client": client[0] if client else None,
                    },
                )
                request_id_var.reset(token)
