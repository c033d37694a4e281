"""Releasing by Git on the real node: a real Argo CD (`poe gitops up`) syncs deploy/ from the node's Git server.

Staging and production share the node as two registered clusters with namespaces of their own
(`harness.gitops.argocd.one_machine_values`). The tests run in order on one installation and commit to its served
repository like a developer would: a release, a bad commit and its revert, drift, a pause, an Application removed,
and what the AppProjects refuse.
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness import ci_tools
from harness.control_plane import ControlPlane
from harness.gitops import argocd
from harness.gitops.install import up, wait_settled
from harness.gitops.repository import REPOSITORY, WorkingCopy, git, repository_url
from harness.images import Image, derive
from harness.node.cluster import Cluster
from harness.paths import REPO_ROOT
from harness.releases import head_revision, revision
from tests.e2e.reads import get_json, migration_jobs, parse_time, pods, release_status, schema_revision, service_url

STAGING, PRODUCTION = "staging", "production"
VALUES = "deploy/environments/{}/values.yaml"
REVISION = "e2e00000gitops"
MIGRATION_SECONDS = 20  # long enough to see Argo CD show the release as Progressing while it migrates
SERVICE_PODS = "app.kubernetes.io/name=bosun,!job-name"


def namespace(environment: str) -> str:
    return argocd.namespaces(environment)[0]


def serving(plane: ControlPlane, environment: str) -> list[dict[str, Any]]:
    """The service's pods that are not going away (a replaced pod lingers while it terminates)."""
    return [p for p in pods(plane, namespace(environment), SERVICE_PODS) if "deletionTimestamp" not in p["metadata"]]


def application(plane: ControlPlane, name: str) -> dict[str, Any]:
    return get_json(plane, "applications.argoproj.io", name, "-n", argocd.NAMESPACE)


def resource_health(app: dict[str, Any], kind: str) -> dict[str, str]:
    """The health Argo CD gives one resource of an Application (status and message)."""
    for resource in app.get("status", {}).get("resources", []):
        if resource["kind"] == kind:
            health: dict[str, str] = resource.get("health", {})
            return health
    return {}


def wait_for(what: str, check: Callable[[], Any], timeout: float = 300, every: float = 1) -> Any:
    """Until `check` returns something truthy (returned); fails naming `what` and the last value seen."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not after {timeout:.0f}s (last seen: {last!r})")


def git_image(repo: WorkingCopy, environment: str) -> str:
    """The service image the environment's values.yaml names in the served repository."""
    image = repo.read_yaml(VALUES.format(environment))["image"]
    return f"{image['repository']}:{image['tag']}"


@dataclass
class Gitops:
    node: Cluster
    plane: ControlPlane
    repo: WorkingCopy

    def release(self, environment: str) -> dict[str, Any]:
        return release_status(self.plane, namespace(environment))

    def settled(self, *environments: str, revision: str | None = None) -> None:
        names = tuple(f"bosun-{e}{suffix}" for e in environments for suffix in ("", "-operator", "-service"))
        wait_settled(self.plane, names, timeout=600, revision=revision)


@pytest.fixture(scope="module")
def gitops(node: Cluster, plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Gitops:
    if not (ci_tools.argocd_dir() / "bin" / "argocd").is_file():
        pytest.skip("Argo CD not built: run `uv run poe ci-tools`")
    if plane.kubectl("get", "namespace", argocd.NAMESPACE, check=False).returncode == 0:
        pytest.skip("Argo CD is already on this cluster: these tests start from nothing (`uv run poe cluster down`)")
    # Argo CD is served this checkout's commit: what is not committed would not be what these tests check.
    uncommitted = git("status", "--porcelain", "--", "charts", "deploy", cwd=REPO_ROOT).strip()
    if uncommitted:
        pytest.fail(f"commit charts/ and deploy/ first, Argo CD serves the commit: {uncommitted.splitlines()[0]}")
    up()
    repo = WorkingCopy.clone(node.layout.git / REPOSITORY, tmp_path_factory.mktemp("gitops") / "bosun")
    return Gitops(node, plane, repo)


def test_from_nothing_the_operator_syncs_before_the_service_and_both_environments_are_healthy(gitops: Gitops) -> None:
    gitops.settled(STAGING, PRODUCTION)
    for environment in (STAGING, PRODUCTION):
        service_app = application(gitops.plane, f"bosun-{environment}-service")
        assert service_app["spec"]["source"]["repoURL"] == repository_url()
        # Wave 1 exists only once wave 0 was healthy: the service's Application was made after the operator ran.
        operator_namespace = argocd.namespaces(environment)[1]
        (pod,) = get_json(gitops.plane, "pods", "-n", operator_namespace)["items"]
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0  # else Available below moved later
        operator = get_json(gitops.plane, "deployments", "-n", operator_namespace)["items"][0]
        available = next(c for c in operator["status"]["conditions"] if c["type"] == "Available")
        assert parse_time(service_app["metadata"]["creationTimestamp"]) >= parse_time(available["lastTransitionTime"])
        # The AppRelease's health is its phase, with the operator's message.
        health = resource_health(service_app, "AppRelease")
        assert health["status"] == "Healthy", health
        assert health["message"].startswith("Ready")
        release = gitops.release(environment)
        assert release["status"]["phase"] == "Ready"
        assert release["spec"]["image"] == git_image(gitops.repo, environment)
        url = service_url(gitops.plane, namespace(environment))
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200


def test_a_release_by_commit_migrates_then_rolls_staging_and_leaves_production(
    gitops: Gitops, images: dict[str, Image], tmp_path: Path
) -> None:
    plane, staging = gitops.plane, namespace(STAGING)
    production_before = gitops.release(PRODUCTION)
    old_image = gitops.release(STAGING)["spec"]["image"]
    new_image = old_image.rsplit(":", 1)[0] + ":1.6.0"
    body = f"""
        op.execute('SELECT pg_sleep({MIGRATION_SECONDS})')
        op.add_column('teams', sa.Column('gitops_note', sa.Text(), nullable=True))
    """
    extra = {f"/app/migrations/versions/{REVISION}_gitops_note.py": revision(head_revision(), REVISION, body)}
    archive = derive(images["runtime"].reference, new_image, extra, tmp_path / "release.tar")
    gitops.node.import_image(archive, new_image)

    old_tag, new_tag = old_image.rsplit(":", 1)[1], "1.6.0"
    gitops.repo.replace(VALUES.format(STAGING), f'tag: "{old_tag}"', f'tag: "{new_tag}"')
    committed = time.monotonic()
    released = gitops.repo.commit(f"Release {new_tag} to staging")

    def migrating_in_argocd() -> dict[str, str] | None:
        health = resource_health(application(plane, "bosun-staging-service"), "AppRelease")
        return health if health.get("message", "").startswith("Migrating") else None

    seen = wait_for("Argo CD showing the release Migrating", migrating_in_argocd, timeout=240, every=0.5)
    assert seen["status"] == "Progressing"
    gitops.settled(STAGING, revision=released)
    print(f"commit to Healthy: {time.monotonic() - committed:.0f}s")

    release = gitops.release(STAGING)
    assert release["status"]["phase"] == "Ready"
    assert release["status"]["currentImage"] == new_image
    (job,) = migration_jobs(plane, staging, new_image)
    completed = parse_time(job["status"]["completionTime"])
    running = serving(plane, STAGING)
    assert running and all(p["spec"]["containers"][0]["image"] == new_image for p in running)
    for pod in running:  # the new image ran only after its migration
        assert parse_time(pod["metadata"]["creationTimestamp"]) >= completed
    assert schema_revision(gitops.node, f"bosun_{STAGING}") == REVISION
    # Production: untouched.
    production = gitops.release(PRODUCTION)
    assert production["metadata"]["generation"] == production_before["metadata"]["generation"]
    assert production["spec"]["image"] == production_before["spec"]["image"]
    assert schema_revision(gitops.node, f"bosun_{PRODUCTION}") != REVISION


def test_a_bad_commit_is_refused_with_the_operators_message_and_its_revert_heals(gitops: Gitops) -> None:
    plane, staging = gitops.plane, namespace(STAGING)
    before = {p["metadata"]["uid"] for p in serving(plane, STAGING)}
    generation = gitops.release(STAGING)["metadata"]["generation"]
    settings = "deploy/environments/staging/settings.yaml"
    origins = gitops.repo.read_yaml(settings)["settings"]["CORS_ORIGINS"]
    bad = json.dumps([json.loads(origins)[0] + "/app"])
    gitops.repo.replace(settings, f"CORS_ORIGINS: '{origins}'", f"CORS_ORIGINS: '{bad}'")
    commit = gitops.repo.commit("Staging CORS origin with a path")

    def refused() -> str | None:
        state = application(plane, "bosun-staging-service")["status"].get("operationState", {})
        message = str(state.get("message", ""))
        on_commit = state.get("operation", {}).get("sync", {}).get("revision") == commit
        return message if on_commit and "must not have a path" in message else None

    message = wait_for("the sync refused by the operator's admission", refused, timeout=240)
    assert "CORS_ORIGINS" in message
    app = application(plane, "bosun-staging-service")
    assert app["status"]["sync"]["status"] == "OutOfSync"
    # Nothing of it reached the release; the same pods serve.
    assert gitops.release(STAGING)["metadata"]["generation"] == generation
    assert {p["metadata"]["uid"] for p in serving(plane, STAGING)} == before
    assert httpx.get(f"{service_url(plane, staging)}/readyz", timeout=10).status_code == 200

    reverted = gitops.repo.revert(commit)
    gitops.settled(STAGING, revision=reverted)
    assert gitops.release(STAGING)["metadata"]["generation"] == generation


def test_drift_is_undone_by_self_heal(gitops: Gitops) -> None:
    plane, staging = gitops.plane, namespace(STAGING)
    in_git = gitops.release(STAGING)["spec"]["image"]
    drifted = in_git.rsplit(":", 1)[0] + ":drifted"
    patch = json.dumps({"spec": {"image": drifted}})
    plane.kubectl("patch", "apprelease", "bosun", "-n", staging, "--type=merge", "-p", patch)
    wait_for("self-heal restoring Git's image", lambda: gitops.release(STAGING)["spec"]["image"] == in_git, timeout=120)
    gitops.settled(STAGING)
    release = gitops.release(STAGING)
    assert release["status"]["phase"] == "Ready"
    assert release["status"]["currentImage"] == in_git
    assert all(p["spec"]["containers"][0]["image"] == in_git for p in serving(plane, STAGING))


def test_paused_in_git_is_suspended_and_nothing_rolls(gitops: Gitops) -> None:
    plane, staging = gitops.plane, namespace(STAGING)
    before = gitops.release(STAGING)
    current_tag = before["spec"]["image"].rsplit(":", 1)[1]
    values = VALUES.format(STAGING)
    gitops.repo.replace(values, "paused: false", "paused: true")
    gitops.repo.replace(values, f'tag: "{current_tag}"', 'tag: "1.7.0"')
    commit = gitops.repo.commit("Pause staging, with a release waiting")

    def suspended() -> bool:
        app = application(plane, "bosun-staging-service")
        return (
            resource_health(app, "AppRelease").get("status") == "Suspended"
            and app["status"]["sync"]["revision"] == commit
        )

    wait_for("Argo CD showing the release Suspended", suspended, timeout=240)
    release = gitops.release(STAGING)
    assert release["spec"]["paused"] is True
    assert release["status"]["phase"] == "Paused"
    time.sleep(10)  # the operator had time to act on it, and did not
    assert not migration_jobs(plane, staging, release["spec"]["image"])
    assert all(p["spec"]["containers"][0]["image"] == before["spec"]["image"] for p in serving(plane, STAGING))

    reverted = gitops.repo.revert(commit)
    gitops.settled(STAGING, revision=reverted)
    assert gitops.release(STAGING)["status"]["currentImage"] == before["spec"]["image"]


def test_removing_the_service_from_git_keeps_the_crd_and_the_other_environment(gitops: Gitops) -> None:
    plane = gitops.plane
    production = gitops.release(PRODUCTION)
    apps = "deploy/environments/staging/apps.yaml"
    gitops.repo.replace(apps, "service:\n  enabled: true", "service:\n  enabled: false")
    removed = gitops.repo.commit("Remove staging's service")

    def names() -> set[str]:
        return {
            app["metadata"]["name"]
            for app in get_json(plane, "applications.argoproj.io", "-n", argocd.NAMESPACE)["items"]
        }

    wait_for("staging's service Application deleted", lambda: "bosun-staging-service" not in names(), timeout=300)
    wait_for(
        "staging's AppRelease deleted with its Application",
        lambda: plane.kubectl("get", "apprelease", "bosun", "-n", namespace(STAGING), check=False).returncode != 0,
        timeout=120,
    )
    assert plane.kubectl("get", "crd", "appreleases.bosun.dev", check=False).returncode == 0
    after = gitops.release(PRODUCTION)
    assert after["metadata"]["uid"] == production["metadata"]["uid"]
    assert after["status"]["phase"] == "Ready"
    gitops.settled(PRODUCTION)

    # Removing the last one too would empty the environment: Argo CD's automated sync refuses to wipe it out.
    gitops.repo.replace(apps, "operator:\n  enabled: true", "operator:\n  enabled: false")
    emptied = gitops.repo.commit("Remove staging's operator too")

    def refused() -> str | None:
        conditions = application(plane, "bosun-staging").get("status", {}).get("conditions", [])
        return next((c["message"] for c in conditions if emptied[:7] in c["message"]), None)

    assert "auto-sync will wipe out all resources" in wait_for("Argo CD refusing to empty staging", refused, 120)
    assert "bosun-staging-operator" in names()
    assert plane.kubectl("get", "crd", "appreleases.bosun.dev", check=False).returncode == 0

    gitops.repo.revert(emptied)
    restored = gitops.repo.revert(removed)
    gitops.settled(STAGING, PRODUCTION, revision=restored)


@pytest.mark.parametrize(
    ("name", "change", "refusal"),
    [
        ("outside-namespace", {"destination": {"name": STAGING, "namespace": "kube-system"}},
         "do not match any of the allowed destinations in project 'bosun'"),
        ("outside-repository", {"source": {"repoURL": "git://elsewhere.invalid/bosun.git"}},
         "is not permitted in project 'bosun'"),
    ],
)  # fmt: skip
def test_the_project_refuses_destinations_and_sources_outside_it(
    gitops: Gitops, name: str, change: dict[str, Any], refusal: str
) -> None:
    app = stray_application(name, change)
    gitops.plane.kubectl("apply", "-f", "-", input=json.dumps(app))
    try:

        def condition() -> str | None:
            conditions = application(gitops.plane, name).get("status", {}).get("conditions", [])
            return next((c["message"] for c in conditions if c["type"] == "InvalidSpecError"), None)

        assert refusal in wait_for(f"Argo CD refusing {name}", condition, timeout=120)
    finally:
        gitops.plane.kubectl("delete", "applications.argoproj.io", name, "-n", argocd.NAMESPACE, "--wait=false")


def test_the_project_refuses_a_kind_outside_its_allow_list(gitops: Gitops) -> None:
    """A Job from the repository (kinds outside the list are the operator's to make, never Argo CD's)."""
    folder = "e2e/forbidden-kind"
    container = {"name": "stray", "image": git_image(gitops.repo, STAGING)}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "stray"},
           "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [container]}}}}  # fmt: skip
    (gitops.repo.folder / folder).mkdir(parents=True, exist_ok=True)
    (gitops.repo.folder / folder / "job.yaml").write_text(json.dumps(job))
    git("add", folder, cwd=gitops.repo.folder)
    commit = gitops.repo.commit("A Job outside the project's kinds")
    name = "outside-kind"
    app = stray_application(name, {"source": {"path": folder}})
    gitops.plane.kubectl("apply", "-f", "-", input=json.dumps(app))
    try:

        def refused() -> str | None:
            state = application(gitops.plane, name).get("status", {}).get("operationState", {})
            message = str(state.get("message", ""))
            return message if "is not permitted in project" in message else None

        assert "resource batch:Job is not permitted in project bosun" in wait_for(
            "the Job refused", refused, timeout=180
        )
        assert gitops.plane.kubectl("get", "job", "stray", "-n", namespace(STAGING), check=False).returncode != 0
    finally:
        gitops.plane.kubectl("delete", "applications.argoproj.io", name, "-n", argocd.NAMESPACE, "--wait=false")
        gitops.repo.revert(commit)


def stray_application(name: str, change: dict[str, Any]) -> dict[str, Any]:
    """An Application in project `bosun` that differs from the environments' by `change`."""
    spec: dict[str, Any] = {
        "project": "bosun",
        "source": {"repoURL": repository_url(), "targetRevision": "main", "path": "e2e/forbidden-kind"},
        "destination": {"name": STAGING, "namespace": namespace(STAGING)},
        "syncPolicy": {"automated": {}},
    }
    for key, value in change.items():
        spec[key] = {**spec[key], **value}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": argocd.NAMESPACE}, "spec": spec}  # fmt: skip
