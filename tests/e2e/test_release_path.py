"""The README's release path on a real node, in order: `helm install`, a release whose migration runs before any pod
gets the new image (with the operator pod deleted mid-migration), a failed migration that leaves the old pods
serving, invalid settings, the staging load test, Prometheus discovering the pods, and `helm uninstall`.

Every pod here is real (containerd + runc on this machine), so are the Job and Deployment controllers, kube-proxy
and cluster DNS. The tests in this module share one release and run in file order.
"""

import json
import secrets
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.charts import expand, panel_queries
from harness.ci_tools import tool
from harness.control_plane import ControlPlane
from harness.images import Image, derive
from harness.node.cluster import Cluster
from harness.node.config import NODE_NAME
from harness.paths import REPO_ROOT
from harness.prometheus import NOT_BUILT as PROMETHEUS_NOT_BUILT
from harness.prometheus import kubernetes_pods_job, prometheus_server
from harness.releases import condition, head_revision, revision
from tests.e2e.reads import (
    RELEASE,
    get_json,
    migration_jobs,
    parse_time,
    pods,
    release_status,
    schema_revision,
    service_url,
    wait_phase,
)

CHART = REPO_ROOT / "charts" / "bosun"
SECRET = "bosun-secrets"
REVISION_2 = "e2e0000000a2"
# The load test's Admin user: a superuser made with `bosun create-superuser` in a pod, its login in a Secret.
LOADTEST_ADMIN = "bosun-loadtest-admin"
LOADTEST_ADMIN_ENV = [
    {"name": f"BOSUN_LOADTEST_ADMIN_{key.upper()}", "valueFrom": {"secretKeyRef": {"name": LOADTEST_ADMIN, "key": key}}}
    for key in ("email", "password")
]
MIGRATION_SECONDS = 20  # long enough to delete the operator pod while the Job runs


@dataclass
class Install:
    """The release every test of this module works on."""

    namespace: str
    database: str
    tag: str
    repository: str

    def image(self, tag: str | None = None) -> str:
        return f"{self.repository}:{tag or self.tag}"


class RequestLoop:
    """Requests through the Service, a new connection each, until stopped (bounded in count and time)."""

    def __init__(self, url: str, path: str = "/readyz", limit: int = 20_000, seconds: float = 600) -> None:
        self.url, self.path, self.limit, self.seconds = url, path, limit, seconds
        self.answered = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "RequestLoop":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        deadline = time.monotonic() + self.seconds
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=self.url, timeout=10, limits=limits) as client:
            while not self._stop.is_set() and time.monotonic() < deadline and self.answered < self.limit:
                try:
                    response = client.get(self.path)
                    if response.status_code == 200:
                        self.answered += 1
                    else:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                self._stop.wait(0.02)


@pytest.fixture(scope="module")
def install(node: Cluster, plane: ControlPlane, images: dict[str, Image]) -> Iterator[Install]:
    namespace = f"e2e-{uuid.uuid4().hex[:6]}"
    database = f"bosun_{namespace.replace('-', '_')}"
    database_url = node.postgres.create_database(database)
    plane.kubectl("create", "namespace", namespace)
    # A Secret with DATABASE_URL and SECRET_KEY, as the README asks for `secrets.existingSecret`.
    plane.kubectl(
        "create", "secret", "generic", SECRET, "-n", namespace,
        f"--from-literal=DATABASE_URL={database_url}", f"--from-literal=SECRET_KEY={secrets.token_urlsafe(48)}",
    )  # fmt: skip
    repository, tag = images["runtime"].reference.rsplit(":", 1)
    yield Install(namespace, database, tag, repository)
    plane.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout=120s", check=False)
    plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def helm_install(plane: ControlPlane, install: Install, images: dict[str, Image]) -> None:
    """The README's `helm install`, with the images `poe images` built."""
    operator_repository, operator_tag = images["operator"].reference.rsplit(":", 1)
    loadtest_tag = images["loadtest"].reference.rsplit(":", 1)[1]
    plane.helm("dependency", "build", str(CHART))
    plane.helm(
        "install", RELEASE, str(CHART), "-n", install.namespace,
        "--set", f"image.repository={install.repository}", "--set", f"image.tag={install.tag}",
        "--set", f"secrets.existingSecret={SECRET}",
        "--set", f"bosun-operator.image.repository={operator_repository}",
        "--set", f"bosun-operator.image.tag={operator_tag}",
        # The staging load test (`helm test`), short and without latency thresholds: CI machines are busy.
        "--set", "loadtest.enabled=true", "--set", f"loadtest.image.tag={loadtest_tag}",
        "--set", "loadtest.runTime=30s", "--set", "loadtest.users=4",
        "--set", "loadtest.extraArgs={--smoke}",
        "--set-json", f"loadtest.env={json.dumps(LOADTEST_ADMIN_ENV)}",
    )  # fmt: skip


def test_helm_install_goes_to_ready_with_real_pods(
    node: Cluster, plane: ControlPlane, images: dict[str, Image], install: Install
) -> None:
    helm_install(plane, install, images)
    operator = "app.kubernetes.io/name=bosun-operator"
    plane.kubectl("wait", "deployment", "-n", install.namespace, "-l", operator, "--for=condition=Available",
                  "--timeout=180s")  # fmt: skip
    (operator_pod,) = pods(plane, install.namespace, operator)
    assert operator_pod["spec"]["containers"][0]["image"] == images["operator"].reference
    assert operator_pod["spec"]["serviceAccountName"].endswith("bosun-operator")
    assert operator_pod["spec"]["nodeName"] == NODE_NAME

    body = wait_phase(plane, install.namespace, "Ready", install.image())
    # Valid -> Migrated -> RolledOut -> Ready, in that order (from the conditions: polling the phase can miss a
    # short one on a fast machine).
    steps = [condition(body, kind) for kind in ("Valid", "Migrated", "RolledOut", "Ready")]
    assert [step["status"] for step in steps] == ["True"] * 4, steps
    times = [parse_time(step["lastTransitionTime"]) for step in steps]
    assert times == sorted(times), steps
    listed = plane.kubectl("get", "appreleases", "-n", install.namespace).stdout
    assert RELEASE in listed and "Ready" in listed, listed

    # The migration ran in a real pod from the image, on this node, and migrated the real database.
    (job,) = migration_jobs(plane, install.namespace, install.image())
    migrated = parse_time(job["status"]["completionTime"])
    service_pods = pods(plane, install.namespace, "app.kubernetes.io/name=bosun,!job-name,pod-template-hash")
    assert len(service_pods) == 2 and all(
        parse_time(p["metadata"]["creationTimestamp"]) >= migrated for p in service_pods
    )
    job_pods = pods(plane, install.namespace, f"job-name={job['metadata']['name']}")
    assert [p["status"]["phase"] for p in job_pods] == ["Succeeded"]
    assert job_pods[0]["spec"]["containers"][0]["command"][:2] == ["bosun", "migrate"]
    assert job_pods[0]["spec"]["serviceAccountName"] == RELEASE  # the release's, like its pods
    deployment = get_json(plane, "deployment", RELEASE, "-n", install.namespace)["spec"]["template"]["spec"]
    assert deployment["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert deployment["securityContext"]["runAsNonRoot"] is True
    assert schema_revision(node, install.database) == head_revision()
    assert [p["status"]["phase"] for p in service_pods] == ["Running", "Running"]

    url = service_url(plane, install.namespace)
    deadline = time.monotonic() + 30  # kube-proxy writes the Service's endpoints a moment after pods turn ready
    while True:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=10)
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "the Service never answered"
            time.sleep(0.5)
    assert ready.status_code == 200, ready.text
    api = f"{url}/api/v1"
    with httpx.Client(base_url=api, timeout=30) as client:
        email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
        password = "a long passphrase for e2e"
        signup = client.post("/auth/signup", json={"email": email, "password": password, "full_name": "Ada"})
        assert signup.status_code == 201, signup.text
        token = client.post("/auth/token", data={"username": email, "password": password}).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        team = client.post("/teams", json={"name": "Ops"})
        assert team.status_code == 201, team.text
        project = client.post(f"/teams/{team.json()['id']}/projects", json={"name": "Launch"})
        assert project.status_code == 201, project.text
        task = client.post(f"/projects/{project.json()['id']}/tasks", json={"title": "Ship it"})
        assert task.status_code == 201, task.text
        assert client.get(f"/tasks/{task.json()['id']}").json()["title"] == "Ship it"


def test_upgrade_migrates_before_any_pod_runs_the_new_image(
    node: Cluster, plane: ControlPlane, images: dict[str, Image], install: Install, tmp_path: Path
) -> None:
    tag = f"{install.tag}-rev2"
    body = f"""
        op.execute('SELECT pg_sleep({MIGRATION_SECONDS})')
        op.add_column('teams', sa.Column('e2e_note', sa.Text(), nullable=True))
    """
    extra = {f"/app/migrations/versions/{REVISION_2}_e2e_note.py": revision(head_revision(), REVISION_2, body)}
    node.import_image(derive(install.image(), install.image(tag), extra, tmp_path / "rev2.tar"), install.image(tag))
    operator = "app.kubernetes.io/name=bosun-operator"
    (old_operator,) = pods(plane, install.namespace, operator)

    with RequestLoop(service_url(plane, install.namespace)) as loop:
        plane.helm(
            "upgrade", RELEASE, str(CHART), "-n", install.namespace, "--reuse-values", "--set", f"image.tag={tag}"
        )
        # While the migration Job's pod runs, the operator's pod is deleted: its replacement must converge.
        deadline = time.monotonic() + 120
        while not any(
            p["status"]["phase"] == "Running" for j in migration_jobs(plane, install.namespace, install.image(tag))
            for p in pods(plane, install.namespace, f"job-name={j['metadata']['name']}")
        ):  # fmt: skip
            assert time.monotonic() < deadline, "the migration Job's pod never ran"
            time.sleep(0.5)
        plane.kubectl("delete", "pod", old_operator["metadata"]["name"], "-n", install.namespace, "--wait=false")
        wait_phase(plane, install.namespace, "Ready", install.image(tag), timeout=300)
        time.sleep(2)  # requests after the last old pod went away count too

    assert loop.failures == [], loop.failures[:5]
    assert loop.answered >= 10  # it ran through the whole rollout (counts, never a rate)
    (job,) = migration_jobs(plane, install.namespace, install.image(tag))  # exactly one, despite the restart
    completed = parse_time(job["status"]["completionTime"])
    new_pods = [
        p
        for p in pods(plane, install.namespace, "app.kubernetes.io/name=bosun")
        if p["spec"]["containers"][0]["image"] == install.image(tag) and "job-name" not in p["metadata"]["labels"]
    ]
    assert len(new_pods) == 2
    for pod in new_pods:  # no pod of the new image existed before its migration completed
        assert parse_time(pod["metadata"]["creationTimestamp"]) >= completed
        assert parse_time(pod["status"]["startTime"]) >= completed
    assert schema_revision(node, install.database) == REVISION_2
    (new_operator,) = pods(plane, install.namespace, operator)
    assert new_operator["metadata"]["uid"] != old_operator["metadata"]["uid"]
    install.tag = tag


def test_failed_migration_keeps_the_old_pods_serving(
    node: Cluster, plane: ControlPlane, install: Install, tmp_path: Path
) -> None:
    tag = f"{install.tag}-broken"
    extra = {
        "/app/migrations/versions/e2e0000000b3_broken.py": revision(
            REVISION_2, "e2e0000000b3", "op.execute('SELECT * FROM no_such_table')"
        )
    }
    node.import_image(derive(install.image(), install.image(tag), extra, tmp_path / "broken.tar"), install.image(tag))

    with RequestLoop(service_url(plane, install.namespace)) as loop:
        plane.helm(
            "upgrade", RELEASE, str(CHART), "-n", install.namespace, "--reuse-values", "--set", f"image.tag={tag}"
        )
        body = wait_phase(plane, install.namespace, "MigrationFailed", timeout=300)
    migrated = condition(body, "Migrated")
    assert migrated["status"] == "False"
    assert "no_such_table" in migrated["message"], migrated
    assert body["status"]["currentImage"] == install.image()
    deployment = get_json(plane, "deployment", RELEASE, "-n", install.namespace)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == install.image()
    assert loop.failures == [] and loop.answered > 10
    (job,) = migration_jobs(plane, install.namespace, install.image(tag))
    logs = plane.kubectl("logs", f"job/{job['metadata']['name']}", "-n", install.namespace).stdout
    assert "no_such_table" in logs, logs[-2000:]
    assert schema_revision(node, install.database) == REVISION_2

    # Back to the working image: its Job exists and completed, so the release is Ready again without a new one.
    plane.helm(
        "upgrade", RELEASE, str(CHART), "-n", install.namespace, "--reuse-values", "--set", f"image.tag={install.tag}"
    )
    wait_phase(plane, install.namespace, "Ready", install.image(), timeout=180)
    assert len(migration_jobs(plane, install.namespace, install.image())) == 1


def test_invalid_settings_are_refused_at_apply_and_a_setting_gone_bad_later_changes_nothing(
    plane: ControlPlane, install: Install
) -> None:
    namespace = f"e2e-invalid-{uuid.uuid4().hex[:6]}"
    plane.kubectl("create", "namespace", namespace)
    try:
        image = get_json(plane, "apprelease", RELEASE, "-n", install.namespace)["spec"]["image"]
        plane.kubectl("create", "secret", "generic", SECRET, "-n", namespace, "--from-literal=DATABASE_URL=unused")
        container = {"name": "bosun", "envFrom": [{"secretRef": {"name": SECRET}}]}
        spec = {"image": image, "replicas": 1, "template": {"spec": {"containers": [container]}}}
        document = {"apiVersion": "bosun.dev/v1alpha1", "kind": "AppRelease", "metadata": {"name": "web"}}

        def apply(**settings: str) -> subprocess.CompletedProcess[str]:
            body = {**document, "spec": {**spec, "settings": {"ENVIRONMENT": "production", **settings}}}
            return plane.kubectl("apply", "-n", namespace, "-f", "-", check=False, input=json.dumps(body))

        # An http:// origin in production: refused by the CRD's rule; a pool of -3 connections: by the operator's
        # admission webhook (the service's own Settings), called by the apiserver through the webhook's Service.
        for setting, value in (("CORS_ORIGINS", "http://shop.example.com"), ("DB_POOL_SIZE", "-3")):
            refused = apply(**{setting: value})
            assert refused.returncode != 0 and setting in refused.stderr, refused.stderr
        assert get_json(plane, "appreleases", "-n", namespace)["items"] == []
    finally:
        plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

    # What admission cannot know: the settings ConfigMap edited by hand after the release was accepted.
    template = release_status(plane, install.namespace)["spec"]["template"]["spec"]["containers"][0]
    (settings_map,) = [s["configMapRef"]["name"] for s in template["envFrom"] if "configMapRef" in s]
    jobs_before = {j["metadata"]["name"] for j in get_json(plane, "jobs", "-n", install.namespace)["items"]}
    original = get_json(plane, "configmap", settings_map, "-n", install.namespace)["data"]
    patch = json.dumps({"data": {"DB_POOL_SIZE": "-3"}})
    plane.kubectl("patch", "configmap", settings_map, "-n", install.namespace, "--type=merge", "-p", patch)
    try:
        body = wait_phase(plane, install.namespace, "Invalid", timeout=120)
        valid = condition(body, "Valid")
        assert valid["status"] == "False" and "DB_POOL_SIZE" in valid["message"], valid
        events = get_json(
            plane, "events", "-n", install.namespace, "--field-selector", f"involvedObject.name={RELEASE}"
        )
        assert any(e["type"] == "Warning" and "DB_POOL_SIZE" in e.get("message", "") for e in events["items"])
        jobs_after = {j["metadata"]["name"] for j in get_json(plane, "jobs", "-n", install.namespace)["items"]}
        assert jobs_after == jobs_before
        deployment = get_json(plane, "deployment", RELEASE, "-n", install.namespace)
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == install.image()
        assert httpx.get(f"{service_url(plane, install.namespace)}/readyz", timeout=10).status_code == 200
    finally:
        restore = json.dumps(
            {"data": {**original, "DB_POOL_SIZE": None}} if "DB_POOL_SIZE" not in original else {"data": original}
        )
        plane.kubectl("patch", "configmap", settings_map, "-n", install.namespace, "--type=merge", "-p", restore)
    wait_phase(plane, install.namespace, "Ready", install.image(), timeout=120)


def test_staging_load_test_passes_against_the_service(plane: ControlPlane, install: Install) -> None:
    email, password = "loadtest-admin@example.com", secrets.token_urlsafe(24)
    made = plane.kubectl(
        "exec", "-i", "-n", install.namespace, f"deployment/{RELEASE}", "--",
        "bosun", "create-superuser", "--email", email, "--password-stdin", input=password + "\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    plane.kubectl(
        "create", "secret", "generic", LOADTEST_ADMIN, "-n", install.namespace,
        f"--from-literal=email={email}", f"--from-literal=password={password}",
    )  # fmt: skip
    result = plane.helm("test", RELEASE, "-n", install.namespace, "--timeout=600s", check=False)
    job = f"{RELEASE}-loadtest"
    logs = plane.kubectl("logs", f"job/{job}", "-n", install.namespace, check=False)
    assert result.returncode == 0, result.stdout + result.stderr + logs.stdout[-3000:]
    (pod,) = pods(plane, install.namespace, "app.kubernetes.io/component=loadtest")
    assert pod["spec"]["containers"][0]["image"].startswith(f"{install.repository}-loadtest:")
    assert "Aggregated" in logs.stdout, logs.stdout[-3000:]  # locust's summary table


def test_prometheus_discovers_and_scrapes_the_pods(plane: ControlPlane, install: Install, tmp_path: Path) -> None:
    if tool("prometheus") is None:
        pytest.skip(PROMETHEUS_NOT_BUILT)
    service = kubernetes_pods_job("bosun", plane, install.namespace, "app.kubernetes.io/name=bosun")
    operator = kubernetes_pods_job(
        "bosun-operator", plane, install.namespace, "app.kubernetes.io/name=bosun-operator", honor_labels=True
    )
    variables = {"$namespace": install.namespace, "$release": RELEASE, "$__rate_interval": "20s", "$__range": "5m"}
    releases = panel_queries(REPO_ROOT / "charts/bosun-operator/files/dashboards/releases.json")
    phase_panel = next(q for q in releases if "by (namespace, release, phase)" in q)  # "Release phase"
    overview = panel_queries(REPO_ROOT / "charts/bosun/files/dashboards/overview.json")
    rate_panel = next(q for q in overview if q.startswith("sum by (route) (rate(http_requests_total"))  # "Requests"
    release_phase = expand(phase_panel, {**variables, "$job": "bosun-operator"})
    request_rate = expand(rate_panel, {**variables, "$job": "bosun"})
    with (
        prometheus_server(tmp_path, [], scrape_configs=[service, operator]) as prometheus,
        RequestLoop(service_url(plane, install.namespace), path="/api/v1", seconds=120),
    ):
        deadline = time.monotonic() + 90
        phase: list[dict[str, Any]] = []
        rate: list[dict[str, Any]] = []
        while time.monotonic() < deadline and not (phase and any(float(r["value"][1]) > 0 for r in rate)):
            phase, rate = prometheus.query(release_phase), prometheus.query(request_rate)
            time.sleep(1)
        targets = prometheus.targets()
    up = [t for t in targets if t["health"] == "up"]
    assert len([t for t in up if t["labels"]["job"] == "bosun"]) == 2, targets
    assert len([t for t in up if t["labels"]["job"] == "bosun-operator"]) == 1, targets
    assert [r["metric"]["phase"] for r in phase] == ["Ready"], phase
    busy = {r["metric"]["route"] for r in rate if float(r["value"][1]) > 0}
    assert "/api/v1" in busy, rate  # the route the loop requested


def test_helm_uninstall_leaves_only_the_crd(plane: ControlPlane, install: Install) -> None:
    result = plane.helm("uninstall", RELEASE, "-n", install.namespace, "--wait", "--timeout=120s", check=False)
    assert result.returncode == 0, result.stderr
    # As the README says: the last `helm test` Job stays (Helm leaves test hooks) until deleted or its TTL.
    plane.kubectl("delete", "job", f"{RELEASE}-loadtest", "-n", install.namespace, "--wait=true")
    kinds = "appreleases,deployments,replicasets,jobs,pods,services,configmaps,serviceaccounts,roles,rolebindings"
    deadline = time.monotonic() + 120
    while True:  # what the release owned is collected in the background (pods end after their grace period)
        leftovers = plane.kubectl("get", kinds, "-n", install.namespace, "-o", "name").stdout.split()
        ours = [name for name in leftovers if name not in ("configmap/kube-root-ca.crt", "serviceaccount/default")]
        if not ours or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert ours == [], ours
    cluster_wide = plane.kubectl(
        "get", "clusterroles,clusterrolebindings,validatingwebhookconfigurations", "-o", "name"
    )
    assert [name for name in cluster_wide.stdout.split() if f"{RELEASE}-" in name.split("/", 1)[1]] == []
    assert plane.kubectl("get", "crd", "appreleases.bosun.dev", check=False).returncode == 0
    plane.kubectl("delete", "namespace", install.namespace, "--timeout=120s")  # not stuck Terminating
