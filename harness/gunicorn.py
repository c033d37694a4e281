"""Run the production process (gunicorn + uvicorn workers) as the image does, for tests and benchmarks."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.cli import GUNICORN_ARGV
from harness.ports import free_port
from harness.processes import stop

BIN = Path(sys.executable).parent


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    api: str
    metrics: str
    log_path: Path
    multiproc_dir: Path
    ready_after: float = 0.0  # seconds from exec to the first 200 from /readyz

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, as Kubernetes does; returns the exit code."""
        return stop(self.process, timeout)


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> float:
    """Poll /readyz until 200; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"server not ready after {timeout}s:\n{log_path.read_text()}")


@contextmanager
def gunicorn_server(
    database_url: str, workdir: Path, argv: list[str] | None = None, env: dict[str, str] | None = None, workers: int = 2
) -> Iterator[Server]:
    """Start the image's command with the test's settings; stop it with SIGTERM afterwards."""
    port, metrics_port = free_port(), free_port()
    multiproc = workdir / "metrics"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))},
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "test",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "LOG_FORMAT": "json",
        "SECRET_KEY": "runtime-test-secret-0123456789abcdef",
        **(env or {}),
    }
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv or GUNICORN_ARGV, env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = Server(
        process, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}/metrics", log_path, multiproc
    )
    try:
        server.ready_after = wait_until_ready(server.api, process, log_path)
        yield server
    finally:
        stop(process)


async def fresh_connection_gets(
    url: str, count: int, headers: dict[str, str] | None = None, concurrency: int = 16, client_timeout: float = 5
) -> list[int]:
    """`count` GETs, each on a fresh connection so the kernel spreads them over the workers; their statuses."""
    semaphore = asyncio.Semaphore(concurrency)

    async def one() -> int:
        async with (
            semaphore,
            httpx.AsyncClient(headers={"Connection": "close", **(headers or {})}, timeout=client_timeout) as client,
        ):
            return (await client.get(url)).status_code

    return list(await asyncio.gather(*(one() for _ in range(count))))
