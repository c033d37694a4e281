"""AppRelease helpers for tests: a release document, apply it as GitOps would, wait for a phase, read what it made."""

import base64
import json
import textwrap
import time
from collections.abc import Callable
from typing import Any

import psycopg

from harness.control_plane import ControlPlane
from harness.postgres import libpq_url

IMAGE = "registry.example.com/team/bosun:1.0.0"

# Settings the service refuses, each with the setting the refusal must name: one table for the reconciler's
# `Invalid` and the admission webhook's refusal (the same rules, the same message).
INVALID_SETTINGS = {
    "origin-with-path": ({"CORS_ORIGINS": "https://app.example.com/path"}, "CORS_ORIGINS"),
    "wrong-type": ({"DB_POOL_SIZE": "many"}, "DB_POOL_SIZE"),
    "out-of-range": ({"PORT": "70000"}, "PORT"),
    "bad-enum": ({"AUTH_MODE": "magic"}, "AUTH_MODE"),
    "jwks-without-url": ({"AUTH_MODE": "jwks"}, "JWKS_URL"),
    "metrics-on-the-api-port": ({"METRICS_PORT": "8000"}, "METRICS_PORT"),
    "nul-character": ({"PROJECT_NAME": "Bo\x00sun"}, "PROJECT_NAME"),
    "negative": ({"DB_POOL_SIZE": "-5"}, "DB_POOL_SIZE"),
    "overflowing": ({"ACCESS_TOKEN_EXPIRE_MINUTES": "9" * 40}, "ACCESS_TOKEN_EXPIRE_MINUTES"),
    "empty-number": ({"SMTP_PORT": ""}, "SMTP_PORT"),
}


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


def jobs_in(kube: ControlPlane, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = json.loads(kube.kubectl("get", "jobs", "-n", namespace, "-o", "json").stdout)["items"]
    return items


def events_of(kube: ControlPlane, namespace: str, name: str = "web") -> list[tuple[str, str, str]]:
    output = kube.kubectl(
        "get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}", "-o", "json"
    ).stdout
    return [(e["type"], e["reason"], e.get("message", "")) for e in json.loads(output)["items"]]


def has_event(kube: ControlPlane, namespace: str, name: str, kind: str, reason: str) -> bool:
    return (kind, reason) in [event[:2] for event in events_of(kube, namespace, name)]


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def deployment_image(kube: ControlPlane, namespace: str, name: str = "web") -> str | None:
    body = get(kube, namespace, "deployment", name)
    return body["spec"]["template"]["spec"]["containers"][0]["image"] if body else None


def column_exists(url: str, table: str, column: str) -> bool:
    with psycopg.connect(libpq_url(url)) as conn:
        query = "SELECT 1 FROM information_schema.columns WHERE table_name = %s AND column_name = %s"
        return conn.execute(query, (table, column)).fetchone() is not None


def revision(down: str, revision_id: str, body: str, module: str = "") -> str:
    """An Alembic revision file after `down`: `body` is the body of upgrade() (one or more lines), `module` extra
    module-level code (e.g. a `squawk_ignore` declaration)."""
    return (
        f'"""test revision"""\nimport sqlalchemy as sa\nfrom alembic import op\n\nrevision = "{revision_id}"\n'
        f'down_revision = "{down}"\nbranch_labels = None\ndepends_on = None\n{textwrap.dedent(module)}\n\n'
        f"def upgrade() -> None:\n{textwrap.indent(textwrap.dedent(body).strip(), '    ')}\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


def head_revision() -> str:
    from app.core.migrations import code_heads

    (head,) = code_heads()
    return head
