"""The operator on a real apiserver: `bosun-operator` in a subprocess, Jobs and Deployments played by the harness."""

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from harness.cluster import DeploymentController, JobRunner, cluster_controllers, install_crd
from harness.control_plane import ControlPlane
from harness.operator import OperatorProcess, operator_process
from harness.postgres import create_database, drop_database, libpq_url

pytestmark = pytest.mark.k8s

IMAGE = "registry.example.com/team/bosun:1.0.0"


@pytest.fixture(scope="module")
def crd(kube: ControlPlane) -> None:
    install_crd(kube)


@pytest.fixture
def empty_database(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url)
    yield url
    drop_database(admin_url, url)


@pytest.fixture
def controllers(kube: ControlPlane, namespace: str) -> Iterator[tuple[JobRunner, DeploymentController]]:
    with cluster_controllers(kube, namespace) as both:
        yield both


def database_secret(kube: ControlPlane, namespace: str, url: str, name: str = "bosun-secrets") -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {
            "DATABASE_URL": base64.b64encode(url.encode()).decode(),
            "SECRET_KEY": base64.b64encode(b"k" * 48).decode(),
        },
    }
    kube.apply(json.dumps(secret))


def release(name: str = "web", image: str = IMAGE, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "image": image,
        "replicas": 2,
        "settings": {"ENVIRONMENT": "staging", "CORS_ORIGINS": "https://app.example.com", "LOG_LEVEL": "INFO"},
        "template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "bosun"}},
            "spec": {
                "containers": [
                    {
                        "name": "bosun",
                        "envFrom": [{"secretRef": {"name": "bosun-secrets"}}],
                        "env": [{"name": "PROMETHEUS_MULTIPROC_DIR", "value": "/tmp/bosun-metrics"}],
                    }
                ]
            },
        },
    }
    body.update(spec)
    return {"apiVersion": "bosun.dev/v1alpha1", "kind": "AppRelease", "metadata": {"name": name}, "spec": body}


def apply(kube: ControlPlane, namespace: str, document: dict[str, Any]) -> None:
    kube.kubectl(
        "apply", "--server-side", "--field-manager=gitops", "-n", namespace, "-f", "-", input=json.dumps(document)
    )


def get(kube: ControlPlane, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    result = kube.kubectl("get", kind, name, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else None


def wait_for(
    kube: ControlPlane,
    namespace: str,
    predicate: Callable[[dict[str, Any]], bool],
    name: str = "web",
    timeout: float = 90,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        body = get(kube, namespace, "apprelease", name)
        if body is not None and predicate(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"timed out; last AppRelease: {json.dumps(body, indent=1)[-3000:]}")


def phase(expected: str) -> Callable[[dict[str, Any]], bool]:
    def check(body: dict[str, Any]) -> bool:
        status = body.get("status") or {}
        return status.get("phase") == expected and status.get("observedGeneration") == body["metadata"]["generation"]

    return check


def condition(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == kind)


def schema_revision(url: str) -> str | None:
    with psycopg.connect(libpq_url(url)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


@pytest.mark.usefixtures("crd")
def test_empty_database_to_ready(
    kube: ControlPlane, namespace: str, empty_database: str, controllers: tuple[JobRunner, DeploymentController]
) -> None:
    jobs, _ = controllers
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]) as operator:
        apply(kube, namespace, release())
        body = wait_for(kube, namespace, phase("Ready"))
        print(operator.output())
    status = body["status"]
    assert status["currentImage"] == status["targetImage"] == IMAGE
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Valid": "True",
        "Migrated": "True",
        "RolledOut": "True",
        "Ready": "True",
    }
    assert [run.exit_code for run in jobs.runs] == [0]
    assert schema_revision(empty_database) is not None
