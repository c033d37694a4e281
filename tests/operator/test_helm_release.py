"""`helm install` of charts/bosun (with the operator chart), then the operator, acting with the chart's service
account and RBAC, takes the chart's AppRelease to Ready."""

from collections.abc import Iterator

import pytest

from harness.cluster import cluster_controllers, install_crd
from harness.control_plane import ControlPlane
from harness.operator import operator_process
from harness.paths import REPO_ROOT
from harness.postgres import create_database, drop_database
from harness.releases import condition, get, head_revision, jobs_in, phase, schema_revision, wait_for

pytestmark = pytest.mark.k8s


@pytest.fixture
def database(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url)
    yield url
    drop_database(admin_url, url)


def test_helm_install_then_the_operator_takes_the_release_to_ready(kube: ControlPlane, database: str) -> None:
    install_crd(kube)
    namespace = kube.create_namespace("helm")
    kube.helm("dependency", "build", str(REPO_ROOT / "charts" / "bosun"))
    kube.helm(
        "install",
        "shop",
        str(REPO_ROOT / "charts" / "bosun"),
        "-n",
        namespace,
        "--set",
        "image.repository=registry.example.com/shop/bosun",
        "--set",
        "image.tag=3.1.0",
        "--set",
        f"secrets.databaseUrl={database}",
        "--set",
        "settings.CORS_ORIGINS=https://shop.example.com",
        "--set",
        f"bosun-operator.watchNamespaces={{{namespace}}}",
        # No pod serves the webhook here (no kubelet); test_admission.py installs and calls it.
        "--set",
        "bosun-operator.admission.enabled=false",
    )
    kubeconfig = kube.kubeconfig_for(namespace, "shop-bosun-operator")
    with (
        cluster_controllers(kube, namespace) as (jobs, _),
        operator_process(kube, [namespace], env={"KUBECONFIG": str(kubeconfig)}),
    ):
        body = wait_for(kube, namespace, phase("Ready"), "shop-bosun")
    assert body["status"]["currentImage"] == "registry.example.com/shop/bosun:3.1.0"
    assert condition(body, "Valid")["status"] == "True"
    assert [run.exit_code for run in jobs.runs] == [0]
    assert schema_revision(database) == head_revision()
    (job,) = jobs_in(kube, namespace)
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "shop-bosun"
    deployment = get(kube, namespace, "deployment", "shop-bosun")
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
