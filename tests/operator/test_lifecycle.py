"""The operator's life around its releases: `helm uninstall` leaves nothing stuck, a finalizer left by an earlier
version is removed, and the probes say whether the apiserver answers (stopped under it, then resumed)."""

import json
import signal
from collections.abc import Iterator
from urllib.parse import urlsplit

import psutil
import pytest

from harness.cluster import cluster_controllers, install_crd
from harness.control_plane import ControlPlane, control_plane
from harness.operator import OperatorProcess, operator_process
from harness.paths import REPO_ROOT
from harness.postgres import create_database, drop_database
from harness.releases import apply, get, phase, release, wait_for, wait_until

pytestmark = pytest.mark.k8s
OLD_FINALIZER = "bosun.dev/operator"


@pytest.fixture
def database(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url)
    yield url
    drop_database(admin_url, url)


def finalizers(kube: ControlPlane, namespace: str, name: str) -> list[str]:
    body = get(kube, namespace, "apprelease", name)
    assert body is not None
    return list(body["metadata"].get("finalizers") or [])


def test_helm_uninstall_deletes_the_release_with_the_operator_gone(kube: ControlPlane, database: str) -> None:
    install_crd(kube)
    namespace = kube.create_namespace("uninstall")
    kube.helm("dependency", "build", str(REPO_ROOT / "charts" / "bosun"))
    kube.helm(
        "install", "gone", str(REPO_ROOT / "charts" / "bosun"), "-n", namespace,
        "--set", f"secrets.databaseUrl={database}",
        "--set", "settings.CORS_ORIGINS=https://shop.example.com",
        "--set", f"bosun-operator.watchNamespaces={{{namespace}}}",
        "--set", "bosun-operator.admission.enabled=false",  # no pod serves it here; see test_admission.py
    )  # fmt: skip
    kubeconfig = kube.kubeconfig_for(namespace, "gone-bosun-operator")
    with (
        cluster_controllers(kube, namespace),
        operator_process(kube, [namespace], env={"KUBECONFIG": str(kubeconfig)}),
    ):
        wait_for(kube, namespace, phase("Ready"), "gone-bosun")
        assert finalizers(kube, namespace, "gone-bosun") == []  # nothing for a missing operator to remove
        # A release an earlier operator version marked: this one takes its finalizer off.
        kube.kubectl(
            "patch", "apprelease", "gone-bosun", "-n", namespace, "--type=merge",
            "-p", json.dumps({"metadata": {"finalizers": [OLD_FINALIZER]}}),
        )  # fmt: skip
        wait_until(lambda: finalizers(kube, namespace, "gone-bosun") == [])
    # The operator is gone first, as when the chart's Deployment goes before its releases.
    uninstall = kube.helm("uninstall", "gone", "-n", namespace, "--wait", "--timeout=60s", check=False)
    assert uninstall.returncode == 0, uninstall.stderr
    assert get(kube, namespace, "apprelease", "gone-bosun") is None


def apiserver_process(plane: ControlPlane) -> psutil.Process:
    """The kube-apiserver this test started (a child of this process, found by its port)."""
    port = urlsplit(plane.url).port
    for child in psutil.Process().children(recursive=True):
        if f"--secure-port={port}" in child.cmdline():
            return child
    raise AssertionError("no kube-apiserver child found")


def test_probes_follow_the_apiserver() -> None:
    """Readiness fails while the apiserver does not answer (stopped with SIGSTOP), liveness after --unhealthy-after;
    both recover when it answers again."""
    with control_plane() as plane:
        install_crd(plane)
        namespace = plane.create_namespace()
        apply(plane, namespace, release(paused=True))
        apiserver = apiserver_process(plane)
        with operator_process(plane, [namespace], args=["--unhealthy-after=15"]) as operator:
            assert (operator.probe("/readyz"), operator.probe("/healthz")) == (200, 200)
            apiserver.send_signal(signal.SIGSTOP)
            try:
                seen: set[tuple[int, int]] = set()

                def probes(wanted: tuple[int, int]) -> bool:
                    seen.add((operator.probe("/readyz"), operator.probe("/healthz")))
                    return wanted in seen

                wait_until(lambda: probes((503, 200)), timeout=60)  # not ready, still alive
                wait_until(lambda: probes((503, 503)), timeout=60)  # then not alive either
            finally:
                apiserver.send_signal(signal.SIGCONT)
            wait_until(lambda: (operator.probe("/readyz"), operator.probe("/healthz")) == (200, 200), timeout=60)
            assert isinstance(operator, OperatorProcess) and operator.process is not None
            assert operator.process.poll() is None
            assert "the apiserver does not answer" in operator.output()
