"""`poe cluster up | status | down` as a user runs them: idempotent `up`, one `up` at a time, and a `down` that leaves
no process, mount, bridge or iptables rule of the cluster behind. Runs before the release path (file order), when
no cluster is up: it starts and stops its own."""

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from harness.k8s_tools import tools_dir
from harness.node import network
from harness.node.cluster import PARTS, leftover_mounts, missing_requirements, running, state_dir
from harness.node.config import NODE_NAME, PAUSE_IMAGE
from harness.paths import REPO_ROOT

pytestmark = pytest.mark.e2e


def cluster(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.node", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900
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
    assert lines[-3] == f"KUBECONFIG={state_dir() / 'kubeconfig'}"
    assert lines[-2].startswith("DATABASE_URL=postgresql://bosun:") and "@10.244.0.1:5432/bosun" in lines[-2]
    assert lines[-1] == "GIT_BASE_URL=git://10.244.0.1:9418"
    try:
        again = cluster("up")  # idempotent: the same cluster, the same lines
        assert again.returncode == 0 and again.stdout.strip().splitlines()[-3:] == lines[-3:], again.stderr
        status = cluster("status")
        for part in PARTS:
            assert f"{part}: running" in status.stdout, status.stdout
        node = next(line for line in status.stdout.splitlines() if line.startswith("node: "))
        assert node.split()[1:3] == [NODE_NAME, "Ready"], node
        # A pod, so that `down` has containers, shims, mounts, a network namespace and cgroups to remove.
        kubectl = [str(tools_dir() / "kubectl"), "--kubeconfig", str(state_dir() / "kubeconfig")]
        subprocess.run([*kubectl, "run", "sleeper", f"--image={PAUSE_IMAGE}", "--image-pull-policy=Never",
                        "--restart=Never"], check=True, capture_output=True)  # fmt: skip
        subprocess.run([*kubectl, "wait", "pod/sleeper", "--for=condition=Ready", "--timeout=120s"], check=True)
        assert leftover_mounts(state_dir())
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
    assert list(Path("/sys/fs/cgroup").glob("*/kubepods")) == []
    assert cluster("down").returncode == 0  # nothing to stop is not an error


def test_a_bad_command_is_the_usage_and_exit_2() -> None:
    result = cluster("upp")
    assert (result.returncode, result.stderr.strip()) == (2, "usage: poe cluster up | status | down")


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


def test_without_root_up_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root (containerd, mounts and iptables need it)" in missing_requirements()
