"""The AppRelease CRD on a real apiserver: valid releases are accepted, invalid ones refused with a clear message."""

import json
import subprocess
from typing import Any

import pytest
import yaml

from harness.cluster import CRD, install_crd
from harness.control_plane import ControlPlane

pytestmark = pytest.mark.k8s


@pytest.fixture(scope="module")
def crd(kube: ControlPlane) -> None:
    install_crd(kube)


def release(name: str = "web", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"image": "registry.example.com/team/bosun:1.4.2"}
    body.update(spec)
    return {"apiVersion": "bosun.dev/v1alpha1", "kind": "AppRelease", "metadata": {"name": name}, "spec": body}


def create(kube: ControlPlane, namespace: str, document: dict[str, Any], *, dry_run: bool = True) -> tuple[int, str]:
    args = ["create", "-n", namespace, "-f", "-", "-o", "json"]
    if dry_run:
        args.append("--dry-run=server")
    result = kube.kubectl(*args, input=json.dumps(document), check=False)
    return result.returncode, result.stdout if result.returncode == 0 else result.stderr


@pytest.mark.usefixtures("crd")
def test_minimal_release_gets_defaults(kube: ControlPlane, namespace: str) -> None:
    code, output = create(kube, namespace, release(), dry_run=False)
    assert code == 0, output
    spec = json.loads(output)["spec"]
    assert spec["paused"] is False
    assert spec["migration"] == {"command": ["bosun", "migrate"], "timeoutSeconds": 600, "backoffLimit": 1}
    assert "replicas" not in spec  # left out: an HPA may own the replica count


@pytest.mark.usefixtures("crd")
def test_full_release_is_accepted(kube: ControlPlane, namespace: str) -> None:
    document = release(
        image="registry.example.com/bosun@sha256:" + "a" * 64,
        replicas=3,
        paused=True,
        settings={
            "ENVIRONMENT": "production",
            "CORS_ORIGINS": '["https://app.example.com"]',
            "LOG_LEVEL": "warning",
            "DEBUG": "false",
        },
        migration={"command": ["bosun", "migrate", "head"], "timeoutSeconds": 900, "backoffLimit": 0},
        template={
            "metadata": {"labels": {"tier": "api"}},
            "spec": {
                "containers": [{"name": "bosun", "envFrom": [{"secretRef": {"name": "bosun-secrets"}}]}],
                "securityContext": {"runAsNonRoot": True},
            },
        },
    )
    code, output = create(kube, namespace, document)
    assert code == 0, output
    # Unknown pod-template fields survive (the schema keeps the pod template open).
    assert json.loads(output)["spec"]["template"]["spec"]["securityContext"] == {"runAsNonRoot": True}


INVALID = [
    ("missing image", {"image": None}, "spec.image: Required value"),
    ("upper-case image", {"image": "Registry/Bosun:1"}, "spec.image"),
    ("negative replicas", {"replicas": -1}, "spec.replicas"),
    ("too many replicas", {"replicas": 101}, "spec.replicas"),
    ("lower-case setting", {"settings": {"log_level": "INFO"}}, "setting names are environment variable names"),
    ("secret in settings", {"settings": {"SECRET_KEY": "x"}}, "are secrets: put them in a Secret"),
    ("database url in settings", {"settings": {"DATABASE_URL": "postgresql://x"}}, "are secrets"),
    ("unknown environment", {"settings": {"ENVIRONMENT": "prod"}}, "ENVIRONMENT must be development"),
    (
        "wildcard CORS in production",
        {"settings": {"ENVIRONMENT": "production", "CORS_ORIGINS": "*"}},
        "CORS_ORIGINS may not contain '*' when ENVIRONMENT is production",
    ),
    (
        "http CORS in production",
        {"settings": {"ENVIRONMENT": "production", "CORS_ORIGINS": "http://app.example.com"}},
        "CORS_ORIGINS must use https",
    ),
    ("debug in production", {"settings": {"ENVIRONMENT": "production", "DEBUG": "True"}}, "DEBUG must be off"),
    ("bad log level", {"settings": {"LOG_LEVEL": "chatty"}}, "LOG_LEVEL must be"),
    ("non-string setting", {"settings": {"DB_POOL_SIZE": 5}}, "spec.settings.DB_POOL_SIZE"),
    ("empty migration command", {"migration": {"command": []}}, "spec.migration.command"),
    ("short migration timeout", {"migration": {"timeoutSeconds": 5}}, "spec.migration.timeoutSeconds"),
    (
        "image in the template",
        {"template": {"spec": {"containers": [{"name": "bosun", "image": "other:1"}]}}},
        "set the image in spec.image",
    ),
    ("unknown spec field", {"imagePullPolicy": "Always"}, 'unknown field "spec.imagePullPolicy"'),
]


@pytest.mark.usefixtures("crd")
@pytest.mark.parametrize(("case", "spec", "message"), INVALID, ids=[case for case, _, _ in INVALID])
def test_invalid_release_is_refused(
    kube: ControlPlane, namespace: str, case: str, spec: dict[str, Any], message: str
) -> None:
    document = release(**spec)
    document["spec"] = {k: v for k, v in document["spec"].items() if v is not None}
    code, output = create(kube, namespace, document)
    assert code != 0, f"{case} was accepted"
    assert message in output, output


def patch_status(
    kube: ControlPlane, namespace: str, name: str, status: dict[str, Any], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Merge-patch an AppRelease's status through the status subresource, as the operator does."""
    patch = json.dumps({"status": status})
    args = ["patch", "apprelease", name, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch]
    return kube.kubectl(*args, check=check)


@pytest.mark.usefixtures("crd")
def test_status_subresource_keeps_kopf_bookkeeping(kube: ControlPlane, namespace: str) -> None:
    code, output = create(kube, namespace, release("status-demo"), dry_run=False)
    assert code == 0, output
    status = {
        "status": {
            "phase": "Migrating",
            "observedGeneration": 1,
            "targetImage": "registry.example.com/team/bosun:1.4.2",
            "migrationJob": "status-demo-migrate-0123abcd",
            "conditions": [
                {
                    "type": "Valid",
                    "status": "True",
                    "reason": "SettingsValid",
                    "message": "ok",
                    "lastTransitionTime": "2026-11-26T08:00:00Z",
                    "observedGeneration": 1,
                },
            ],
            "kopf": {"progress": {"reconcile": {"started": "2026-11-26T08:00:00Z", "retries": 1}}},
        }
    }
    patch_status(kube, namespace, "status-demo", status["status"])
    stored = kube.get_json("apprelease", "status-demo", "-n", namespace)["status"]
    assert isinstance(stored, dict)
    assert stored["kopf"] == status["status"]["kopf"]
    assert stored["phase"] == "Migrating"
    # Status goes through the subresource only: a spec write cannot set it.
    kube.kubectl(
        "patch", "apprelease", "status-demo", "-n", namespace, "--type=merge", "-p", '{"status": {"phase": "Ready"}}'
    )
    assert kube.get_json("apprelease", "status-demo", "-n", namespace)["status"]["phase"] == "Migrating"  # type: ignore[index]
    bad = patch_status(kube, namespace, "status-demo", {"phase": "Done"}, check=False)
    assert bad.returncode != 0
    assert "status.phase" in bad.stderr


@pytest.mark.usefixtures("crd")
def test_printer_columns(kube: ControlPlane, namespace: str) -> None:
    create(kube, namespace, release("columns"), dry_run=False)
    patch_status(kube, namespace, "columns", {"phase": "Ready", "conditions": [{"type": "Ready", "status": "True"}]})
    table = kube.kubectl("get", "appreleases", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "IMAGE", "PHASE", "READY", "AGE"]
    assert table[1].split()[:4] == ["columns", "registry.example.com/team/bosun:1.4.2", "Ready", "True"]
    short = kube.kubectl("get", "ar", "-n", namespace, "-o", "name").stdout.strip()
    assert short == "apprelease.bosun.dev/columns"


def test_crd_file_is_one_document() -> None:
    documents = list(yaml.safe_load_all(CRD.read_text()))
    assert len(documents) == 1
    assert documents[0]["spec"]["versions"][0]["name"] == "v1alpha1"
