"""`poe cluster up | status | down` as a user runs them: idempotent `up`, one `up` at a time, and a `down` that leaves
no process, mount, bridge or iptables rule of the cluster behind. Runs before the release path (file order), when
no cluster is up: it starts and stops its own."""

import os
import subprocess
import sys

import psutil
import pytest

from harness.node import network
from harness.node.cluster import PARTS, leftover_mounts, missing_requirements, running, state_dir
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.e2e


def cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.node", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )


def test_up_status_down_leave_nothing_behind() -> None:
    missing = missing_requirements()
    if missing:
        pytest.skip("no real node here: this machine lacks " + ", ".join(missing))
    if running() is not None or state_dir().exists():
        pytest.skip("a cluster is up on this machine: this test starts and stops its own")
    forward_before = network.ip_forward()

    up = cluster("up")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.strip().splitlines()
    assert lines[-2] == f"KUBECONFIG={state_dir() / 'kubeconfig'}"
    assert lines[-1].startswith("DATABASE_URL=postgresql://bosun:") and "@10.244.0.1:5432/bosun" in lines[-1]
    try:
        again = cluster("up")  # idempotent: the same cluster, the same lines
        assert again.returncode == 0 and again.stdout.strip().splitlines()[-2:] == lines[-2:], again.stderr
        status = cluster("status")
        for part in PARTS:
            assert f"{part}: running" in status.stdout, status.stdout
        assert "bosun-node   Ready" in status.stdout
        pids = [p.pid for p in psutil.process_iter() if str(state_dir()) in " ".join(_cmdline(p))]
        assert pids
        assert network.bridge_exists() and network.current_rules()
    finally:
        down = cluster("down")
    assert down.returncode == 0, down.stderr
    assert cluster("status").stdout.strip() == "cluster: down"
    assert not state_dir().exists()
    assert [pid for pid in pids if psutil.pid_exists(pid)] == []
    assert leftover_mounts(state_dir()) == []
    assert not network.bridge_exists()
    assert network.current_rules() == []
    assert network.ip_forward() == forward_before
    assert cluster("down").returncode == 0  # nothing to stop is not an error


def test_a_bad_command_is_the_usage_and_exit_2() -> None:
    result = cluster("upp")
    assert (result.returncode, result.stderr.strip()) == (2, "usage: poe cluster up | status | down")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def test_without_root_up_says_so_in_one_line() -> None:
    if os.geteuid() != 0:
        result = cluster("up")
        assert result.returncode == 1 and len(result.stderr.strip().splitlines()) == 1
        assert "root" in result.stderr
    else:
        assert "root (containerd, mounts and iptables need it)" not in missing_requirements()
