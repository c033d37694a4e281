"""Reads of a release on the real node that several end-to-end modules share."""

import json
import time
from datetime import datetime
from typing import Any

import psycopg

from harness.control_plane import ControlPlane
from harness.node.cluster import Cluster

RELEASE = "bosun"  # the AppRelease (and Service) name of the charts' default release


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def get_json(plane: ControlPlane, *args: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(plane.kubectl("get", *args, "-o", "json").stdout)
    return body


def release_status(plane: ControlPlane, namespace: str) -> dict[str, Any]:
    return get_json(plane, "apprelease", RELEASE, "-n", namespace)


def wait_phase(
    plane: ControlPlane,
    namespace: str,
    phase: str,
    image: str | None = None,
    timeout: float = 300,
    seen: list[str] | None = None,
) -> dict[str, Any]:
    """Until the release reaches `phase` for its current generation (and image); records every phase passed."""
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = release_status(plane, namespace)
        status = body.get("status") or {}
        if seen is not None and status.get("phase") and (not seen or seen[-1] != status["phase"]):
            seen.append(status["phase"])
        current = status.get("observedGeneration") == body["metadata"]["generation"]
        if current and status.get("phase") == phase and (image is None or status.get("currentImage") == image):
            return body
        time.sleep(0.25)
    raise AssertionError(f"AppRelease not {phase} in {timeout}s: {json.dumps(body.get('status'), indent=1)}")


def service_url(plane: ControlPlane, namespace: str) -> str:
    service = get_json(plane, "service", RELEASE, "-n", namespace)
    return f"http://{service['spec']['clusterIP']}:{service['spec']['ports'][0]['port']}"


def pods(plane: ControlPlane, namespace: str, selector: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(plane, "pods", "-n", namespace, "-l", selector)["items"]
    return items


def migration_jobs(plane: ControlPlane, namespace: str, image: str) -> list[dict[str, Any]]:
    items = get_json(plane, "jobs", "-n", namespace)["items"]
    return [j for j in items if j["spec"]["template"]["spec"]["containers"][0]["image"] == image]


def schema_revision(node: Cluster, database: str) -> str:
    with psycopg.connect(node.postgres.admin_url(database)) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])
