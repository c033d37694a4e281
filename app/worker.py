"""The gunicorn worker: uvicorn's, with a drain that answers every request already on its way when it retires.

When a worker retires (MAX_REQUESTS, or SIGTERM), uvicorn stops accepting and closes every connection that is
between requests at once: a client whose next request is already on its way (a busy keep-alive client sends it the
moment the last response arrives), or that connected a moment ago and has not sent its first yet, gets no answer.
This worker stops accepting first (new connections wait in the shared listen queue for the next worker), then
answers each request that arrives with `Connection: close`: a connection that has sent no request gets up to
KEEPALIVE seconds to send one (what an idle keep-alive connection gets), one between requests a short grace after
its last response for a request in flight; then it is closed. Under load every connection is busy, so the drain
takes about one request.

With preload the master imports what a worker needs once, so a replacement worker serves within milliseconds: the
HTTP protocol and event loop are imported here (uvicorn would import them in each worker as it starts), and
websockets are off (the API has none).
The drain reads uvicorn's server and connection state, which is not public API: the names used are checked in
tests/test_library_internals.py.
"""

import asyncio
import signal
import sys
from socket import socket
from types import FrameType
from typing import ClassVar

import uvicorn.loops.uvloop
import uvicorn.protocols.http.httptools_impl  # noqa: F401
from gunicorn.arbiter import Arbiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.server import Server, logger
from uvicorn_worker import UvicornWorker

_POLL_SECONDS = 0.01  # uvicorn polls every 0.1 s while shutting down: a lone worker's replacement waits for it
_IDLE_GRACE_SECONDS = 0.25  # time for a request a keep-alive client has already sent to arrive


class DrainingServer(Server):
    """uvicorn's server with a shutdown that answers the requests already on their way."""

    retiring = False

    def closing_when_retiring(self, app: ASGIApp) -> ASGIApp:
        """`app`, answering with `Connection: close` once this server retires: a keep-alive client then sends its next
        request on a new connection (to the next worker), not on this one, which is about to close."""

        async def closing(scope: Scope, receive: Receive, send: Send) -> None:
            if not self.retiring or scope["type"] != "http":
                await app(scope, receive, send)
                return

            async def send_closing(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
                await send(message)

            await app(scope, receive, send_closing)

        return closing

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        logger.info("Shutting down")
        self.retiring = True
        for server in self.servers:
            server.close()  # stop accepting first: later connections queue for the next worker
        loop = asyncio.get_running_loop()
        began = loop.time()
        idle_since: dict[object, float] = {}  # connections between requests: since when
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while (self.server_state.connections or self.server_state.tasks) and not self.force_exit:
                    now = loop.time()
                    for connection in list(self.server_state.connections):
                        if _may_close(connection, now - began, idle_since, now, self.config.timeout_keep_alive):
                            connection.shutdown()  # closes it now if idle, else after the response
                    await asyncio.sleep(_POLL_SECONDS)  # uvicorn has no event for a connection's state
        except TimeoutError:
            logger.error("Cancel %s running task(s), timeout graceful shutdown exceeded", len(self.server_state.tasks))
            for task in self.server_state.tasks:
                task.cancel(msg="Task cancelled, timeout graceful shutdown exceeded")
        if not self.force_exit:
            await self.lifespan.shutdown()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """uvicorn's, without keeping the signal to raise again once serving ends: the drain does what it asks."""
        # Raised again, a SIGTERM would meet the default handler gunicorn's worker has reset: the process would
        # die there, before gunicorn's exit hook flushes the worker's spans.
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl+C: stop waiting
        else:
            self.should_exit = True


def _may_close(
    connection: object, waited: float, idle_since: dict[object, float], now: float, keep_alive: float
) -> bool:
    """Whether a retiring worker ends this connection now (idle) or after the response it is working on."""
    # uvicorn's HTTP protocols start a request cycle when a request's headers have arrived.
    cycle = getattr(connection, "cycle", None)
    if cycle is None:
        return waited >= keep_alive  # connected, no request yet
    if cycle.response_complete:  # between requests: a grace from its last response for the next one on its way
        return now - idle_since.setdefault(connection, now) >= _IDLE_GRACE_SECONDS
    idle_since.pop(connection, None)
    # A request in progress is answered with Connection: close, unless its headers have gone out without it: then
    # the client may already be sending the next request, which is answered with it.
    return not cycle.response_started


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]
    """UvicornWorker serving through DrainingServer."""

    CONFIG_KWARGS: ClassVar[dict[str, str]] = {"loop": "uvloop", "http": "httptools", "ws": "none"}

    def run(self) -> None:
        server = DrainingServer(config=self.config)
        self.config.app = server.closing_when_retiring(self.wsgi)
        # gunicorn's quick shutdown (SIGQUIT) ends the worker as gunicorn asks, not at once by the default handler
        # (what uvicorn-worker's own run installs: encode/uvicorn#1116).
        signal.signal(signal.SIGQUIT, self.handle_exit)
        server.run(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
