"""The operator as users run it: the `bosun-operator` command in a subprocess, so a test can kill it."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.control_plane import ControlPlane
from harness.ports import free_port
from harness.processes import stop

BIN = Path(sys.executable).parent / "bosun-operator"


@dataclass
class OperatorProcess:
    plane: ControlPlane
    namespaces: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    args: Sequence[str] = ()
    binary: Path = BIN
    metrics_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="bosun-operator-", suffix=".log")[1]))

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def probe(self, path: str) -> int:
        """The status code of /healthz or /readyz (0: no answer)."""
        try:
            return httpx.get(f"http://127.0.0.1:{self.health_port}{path}", timeout=5).status_code
        except httpx.TransportError:
            return 0

    def start(self) -> None:
        """Start the command and wait until it is ready (it reaches the apiserver, its webhook is set up)."""
        args = [str(self.binary), "--standalone", f"--liveness=http://127.0.0.1:{self.health_port}/healthz", *self.args]
        args += [f"--namespace={namespace}" for namespace in self.namespaces]
        env = {**self.plane.env(), "METRICS_PORT": str(self.metrics_port), "LOG_LEVEL": "INFO", **self.env}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bosun-operator exited with {self.process.returncode}:\n{self.output()}")
            if self.probe("/readyz") == 200:
                return
            time.sleep(0.2)
        raise AssertionError(f"bosun-operator did not become ready in 60 s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when a node dies."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop(self.process, timeout=30)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@contextmanager
def operator_process(
    plane: ControlPlane, namespaces: Sequence[str], env: dict[str, str] | None = None, args: Sequence[str] = ()
) -> Iterator[OperatorProcess]:
    """A running `bosun-operator --standalone --namespace ...`; stopped (SIGTERM) afterwards."""
    operator = OperatorProcess(plane, namespaces, env=env or {}, args=args)
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()
        os.unlink(operator.log) if operator.log.exists() else None
