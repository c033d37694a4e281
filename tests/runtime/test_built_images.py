"""The images `poe images` built, run from outside as the cluster runs them: UID 10001, read-only root filesystem,
only /tmp writable. Skipped, with one line, where the images of this source tree or podman are not there."""

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from harness.images import NOT_BUILT, ULIMITS, Image, current_images
from harness.node.postgres import tcp_postgres
from harness.ports import free_port

RESTRICTED = ["--read-only", "--tmpfs", "/tmp", "--user", "10001:10001", *ULIMITS]
ISOLATED = [*RESTRICTED, "--network", "none"]  # what needs no network gets none


@pytest.fixture(scope="module")
def images() -> dict[str, Image]:
    if shutil.which("podman") is None or os.geteuid() != 0:
        pytest.skip("running the built images needs podman and root")
    found = current_images()
    if found is None:
        pytest.skip(NOT_BUILT)
    return found


@pytest.fixture(scope="module")
def database(images: dict[str, Image]) -> Iterator[str]:
    """A PostgreSQL on loopback TCP (a container cannot use the test server's private socket folder)."""
    with tcp_postgres() as server:
        yield server.app_url()


def podman(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", "run", "--rm", *args], capture_output=True, text=True, timeout=timeout)


def test_runtime_migrates_and_serves_as_uid_10001_on_a_read_only_root(images: dict[str, Image], database: str) -> None:
    image = images["runtime"].reference
    common = [*RESTRICTED, "--network", "host", "-e", f"DATABASE_URL={database}"]
    common += ["-e", "SECRET_KEY=" + "s" * 40]
    migrate = podman(*common, "--entrypoint", "bosun", image, "migrate")
    assert migrate.returncode == 0, migrate.stderr

    port, metrics = free_port(), free_port()
    name = f"bosun-image-test-{uuid.uuid4().hex[:8]}"
    server = subprocess.Popen(
        ["podman", "run", "--rm", "--name", name, *common, "-e", "HOST=127.0.0.1", "-e", f"PORT={port}",
         "-e", f"METRICS_PORT={metrics}", "-e", "WEB_CONCURRENCY=1", image],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the runtime image never answered /healthz"
            time.sleep(0.5)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        signup = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/signup",
            json={"email": "ada@example.com", "password": "a long passphrase", "full_name": "Ada"},
            timeout=30,
        )
        assert signup.status_code == 201, signup.text
        scrape = httpx.get(f"http://127.0.0.1:{metrics}/metrics", timeout=10)
        assert "http_requests_total" in scrape.text
    finally:
        subprocess.run(["podman", "stop", "--time", "10", name], capture_output=True)
        server.wait(timeout=60)


def test_runtime_can_write_nowhere_but_tmp(images: dict[str, Image]) -> None:
    image = images["runtime"].reference
    script = "touch /tmp/ok && ! touch /app/x 2>/dev/null && ! touch /x 2>/dev/null && id -u"
    result = podman(*ISOLATED, "--entrypoint", "sh", image, "-c", script)
    assert (result.returncode, result.stdout.strip()) == (0, "10001"), result.stderr


def test_operator_image_runs_the_operator_and_refuses_a_bad_flag_in_one_line(images: dict[str, Image]) -> None:
    result = podman(*ISOLATED, images["operator"].reference, "--all-namespaces", "--no-such-flag")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--no-such-flag" in lines[0], result.stderr


def test_loadtest_image_runs_locust_with_the_scenario(images: dict[str, Image]) -> None:
    result = podman(*ISOLATED, images["loadtest"].reference, "--list")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["Member", "Newcomer", "Admin"], result.stdout  # loadtests/locustfile.py
