"""Checking that a port can be listened on before a server tries, so a clash is one line naming the setting."""

import errno
import socket


class PortUnavailable(RuntimeError):
    """A port this process should listen on is taken or not allowed."""


def check_port_free(host: str, port: int, setting: str) -> None:
    """Raise PortUnavailable naming `setting` when host:port cannot be bound right now."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(f"cannot listen on {host}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # The servers set SO_REUSEADDR too, so a port in TIME_WAIT is not reported as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortUnavailable(f"port {port} ({setting}) is already in use on {host}") from None
            raise PortUnavailable(f"port {port} ({setting}): cannot listen on {host}: {exc.strerror}") from None
