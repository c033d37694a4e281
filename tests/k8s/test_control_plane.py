"""The harness itself: a real apiserver with RBAC, reachable with the admin kubeconfig."""

import pytest

from harness.control_plane import ControlPlane

pytestmark = pytest.mark.k8s


def test_apiserver_answers_with_rbac(kube: ControlPlane, namespace: str) -> None:
    info = kube.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.34' in info
    assert kube.kubectl("auth", "can-i", "create", "deployments", "-n", namespace).stdout.strip() == "yes"
    # RBAC is on: an identity without bindings may do nothing.
    denied = kube.kubectl("auth", "can-i", "list", "pods", "-n", namespace, "--as=nobody", check=False)
    assert denied.stdout.strip() == "no"
    assert kube.get_json("namespace", namespace)["status"] == {"phase": "Active"}
