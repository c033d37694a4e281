"""The gunicorn worker: uvicorn's, with a drain that answers every connection it has accepted.

When a worker retires (MAX_REQUESTS, or SIGTERM), uvicorn stops accepting and closes every connection that is
between requests, including one it accepted a moment ago whose request it has not read yet: that client gets no
answer. This worker first stops accepting (new connections wait in the shared listen queue for the next worker),
then gives connections it accepted but has not yet read a request from up to KEEPALIVE seconds (what an idle
keep-alive connection gets) to send it, and answers it; idle keep-alive connections are closed as usual (clients
retry those). When no connection is waiting, which is the common case, the drain starts at once.
"""

import asyncio
import sys
from socket import socket

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

_POLL_SECONDS = 0.01


class DrainingServer(Server):
    """uvicorn's server with a shutdown that serves connections accepted before it began."""

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        for server in self.servers:
            server.close()  # stop accepting first: later connections queue for the next worker
        for _ in range(round(self.config.timeout_keep_alive / _POLL_SECONDS)):
            if not any(_awaiting_first_request(c) for c in self.server_state.connections):
                break
            await asyncio.sleep(_POLL_SECONDS)
        await super().shutdown(sockets)


def _awaiting_first_request(connection: object) -> bool:
    # uvicorn's HTTP protocols start a request cycle when a request's headers have arrived.
    return getattr(connection, "cycle", None) is None


class DrainingUvicornWorker(UvicornWorker):  # type: ignore[misc]
    """UvicornWorker serving through DrainingServer."""

    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = DrainingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
