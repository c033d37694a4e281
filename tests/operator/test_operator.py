"""The operator on a real apiserver: `bosun-operator` in a subprocess, Jobs and Deployments played by the harness."""

import json
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest

from harness.cluster import DeploymentController, JobRunner, cluster_controllers, image_with_revision, install_crd
from harness.control_plane import ControlPlane
from harness.operator import OperatorProcess, operator_process
from harness.postgres import create_database, drop_database, libpq_url
from harness.releases import (
    IMAGE,
    INVALID_SETTINGS,
    apply,
    column_exists,
    condition,
    database_secret,
    deployment_image,
    events_of,
    get,
    has_event,
    head_revision,
    jobs_in,
    phase,
    release,
    schema_revision,
    wait_for,
    wait_until,
)

pytestmark = pytest.mark.k8s


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


@pytest.mark.usefixtures("crd")
def test_empty_database_to_ready(
    kube: ControlPlane, namespace: str, empty_database: str, controllers: tuple[JobRunner, DeploymentController]
) -> None:
    jobs, deployments = controllers
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]) as operator:
        apply(kube, namespace, release())
        applied = time.monotonic()
        body = wait_for(kube, namespace, phase("Ready"))
        ready = time.monotonic()
        scrape = httpx.get(operator.metrics_url).text
    status = body["status"]
    assert status["currentImage"] == status["targetImage"] == IMAGE
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Valid": "True",
        "Migrated": "True",
        "RolledOut": "True",
        "Ready": "True",
    }
    assert all(c["observedGeneration"] == 1 and c["lastTransitionTime"] for c in status["conditions"])
    assert [run.exit_code for run in jobs.runs] == [0]
    assert schema_revision(empty_database) == head_revision()
    (job,) = jobs_in(kube, namespace)
    assert job["metadata"]["name"] == status["migrationJob"]
    assert job["metadata"]["name"].startswith("web-migrate-")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE and container["command"] == ["bosun", "migrate"]
    assert {"name": "CORS_ORIGINS", "value": "https://app.example.com"} in container["env"]
    assert container["envFrom"] == [{"secretRef": {"name": "bosun-secrets"}}]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (1, 600)
    assert "ttlSecondsAfterFinished" not in job["spec"]
    deployment = get(kube, namespace, "deployment", "web")
    assert deployment is not None and deployment["spec"]["replicas"] == 2
    app = deployment["spec"]["template"]["spec"]["containers"][0]
    assert app["image"] == IMAGE
    assert {"name": "LOG_LEVEL", "value": "INFO"} in app["env"]
    assert {"name": "PROMETHEUS_MULTIPROC_DIR", "value": "/tmp/bosun-metrics"} in app["env"]
    reasons = [reason for _, reason, _ in events_of(kube, namespace)]
    assert {"MigrationStarted", "RolloutStarted", "Ready"} <= set(reasons)
    assert 'bosun_operator_migrations_total{result="succeeded"} 1.0' in scrape
    assert 'bosun_operator_rollouts_total{result="succeeded"} 1.0' in scrape
    assert f'bosun_operator_release_phase{{namespace="{namespace}",phase="Ready",release="web"}} 1.0' in scrape
    assert 'bosun_operator_reconciliations_total{result="success"}' in scrape
    # Figures for the README/notes (never asserted): how fast each step follows the last.
    job_name = job["metadata"]["name"]
    print(
        f"\nlatency: apply->Job seen {jobs.seen[job_name] - applied:.2f}s; "
        f"Job complete->Deployment patched {deployments.first_seen['web'] - jobs.finished[job_name]:.2f}s; "
        f"Deployment ready->Ready {ready - deployments.rolled['web']:.2f}s (poll 0.2s)"
    )


@pytest.mark.usefixtures("crd")
def test_upgrade_migrates_before_the_new_image_rolls_out(
    kube: ControlPlane, namespace: str, empty_database: str, tmp_path: Path
) -> None:
    v2 = "registry.example.com/team/bosun:2.0.0"
    estimate = 'op.add_column("tasks", sa.Column("estimate", sa.Integer(), nullable=True))'
    images = {v2: image_with_revision(tmp_path / "v2", "99990001", estimate)}
    seen: list[tuple[str, bool]] = []
    database_secret(kube, namespace, empty_database)
    with cluster_controllers(kube, namespace, images=images) as (jobs, deployments):
        deployments.on_rollout = lambda d: seen.append(
            (
                d["spec"]["template"]["spec"]["containers"][0]["image"],
                column_exists(empty_database, "tasks", "estimate"),
            )
        )
        with operator_process(kube, [namespace]):
            apply(kube, namespace, release())
            wait_for(kube, namespace, phase("Ready"))
            apply(kube, namespace, release(image=v2))
            body = wait_for(kube, namespace, phase("Ready"))
    assert body["status"]["currentImage"] == v2
    assert [(run.image, run.exit_code) for run in jobs.runs] == [(IMAGE, 0), (v2, 0)]
    assert seen[0] == (IMAGE, False)
    assert seen[-1] == (v2, True)  # the new image reached the Deployment only once its column existed
    assert all(has_column for image, has_column in seen if image == v2)
    assert len(jobs_in(kube, namespace)) == 2


@pytest.mark.usefixtures("crd")
def test_a_failed_migration_keeps_the_old_image_serving(
    kube: ControlPlane, namespace: str, empty_database: str, tmp_path: Path
) -> None:
    broken, fixed = "registry.example.com/team/bosun:2.0.0", "registry.example.com/team/bosun:2.0.1"
    bad = 'op.execute("ALTER TABLE no_such_table ADD COLUMN x int")'
    good = 'op.add_column("tasks", sa.Column("x", sa.Integer(), nullable=True))'
    images = {
        broken: image_with_revision(tmp_path / "broken", "99990002", bad),
        fixed: image_with_revision(tmp_path / "fixed", "99990002", good),
    }
    database_secret(kube, namespace, empty_database)
    with cluster_controllers(kube, namespace, images=images) as (jobs, _), operator_process(kube, [namespace]):
        apply(kube, namespace, release())
        wait_for(kube, namespace, phase("Ready"))
        apply(kube, namespace, release(image=broken))
        body = wait_for(kube, namespace, phase("MigrationFailed"))
        migrated = condition(body, "Migrated")
        assert migrated["status"] == "False" and migrated["reason"] == "BackoffLimitExceeded"
        assert 'relation "no_such_table" does not exist' in migrated["message"]
        assert condition(body, "Ready")["status"] == "False"
        assert body["status"]["currentImage"] == IMAGE
        assert deployment_image(kube, namespace) == IMAGE  # the old image keeps serving
        assert [run.exit_code != 0 for run in jobs.runs] == [False, True, True]  # backoffLimit 1: two attempts
        wait_until(
            lambda: any(
                (kind, reason) == ("Warning", "MigrationFailed") and "no_such_table" in message
                for kind, reason, message in events_of(kube, namespace)
            )
        )
        apply(kube, namespace, release(image=fixed))
        body = wait_for(kube, namespace, phase("Ready"))
    assert deployment_image(kube, namespace) == fixed
    assert column_exists(empty_database, "tasks", "x")


@pytest.mark.usefixtures("crd")
def test_a_migration_blocked_by_a_lock_says_so_in_migration_failed(
    kube: ControlPlane, namespace: str, empty_database: str, tmp_path: Path
) -> None:
    """A long transaction on the table: the Job gives up after MIGRATION_LOCK_TIMEOUT and the status says why."""
    v2 = "registry.example.com/team/bosun:2.0.0"
    estimate = 'op.add_column("tasks", sa.Column("estimate", sa.BigInteger(), nullable=True))'
    images = {v2: image_with_revision(tmp_path / "v2", "99990003", estimate)}
    database_secret(kube, namespace, empty_database)
    settings = {**release()["spec"]["settings"], "MIGRATION_LOCK_TIMEOUT": "0.5"}
    with cluster_controllers(kube, namespace, images=images), operator_process(kube, [namespace]):
        apply(kube, namespace, release(settings=settings))
        wait_for(kube, namespace, phase("Ready"))
        with psycopg.connect(libpq_url(empty_database)) as reader:
            reader.execute("SELECT count(*) FROM tasks")  # an open transaction that has read tasks
            apply(kube, namespace, release(image=v2, settings=settings))
            body = wait_for(kube, namespace, phase("MigrationFailed"))
            reader.rollback()
    message = condition(body, "Migrated")["message"]
    assert (
        "bosun: migration failed: lock wait timeout: gave up after 0.5s (MIGRATION_LOCK_TIMEOUT) waiting for a lock "
        "on table tasks held by another transaction" in message
    )
    assert deployment_image(kube, namespace) == IMAGE
    assert not column_exists(empty_database, "tasks", "estimate")


@pytest.mark.usefixtures("crd")
def test_invalid_settings_create_nothing(kube: ControlPlane, namespace: str, empty_database: str) -> None:
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]):
        for name, (settings, _) in INVALID_SETTINGS.items():
            apply(kube, namespace, release(name, settings={"ENVIRONMENT": "staging", **settings}))
        no_database = release("no-database-url")
        no_database["spec"]["template"]["spec"]["containers"][0]["envFrom"] = []
        apply(kube, namespace, no_database)
        bodies = {
            name: wait_for(kube, namespace, phase("Invalid"), name) for name in [*INVALID_SETTINGS, "no-database-url"]
        }
        for name in bodies:
            wait_until(partial(has_event, kube, namespace, name, "Warning", "InvalidSettings"))
    for name, (_, setting) in [*INVALID_SETTINGS.items(), ("no-database-url", ({}, "DATABASE_URL"))]:
        valid = condition(bodies[name], "Valid")
        assert valid["status"] == "False" and valid["reason"] == "InvalidSettings", name
        assert setting in valid["message"], (name, valid["message"])
    assert jobs_in(kube, namespace) == []
    assert json.loads(kube.kubectl("get", "deployments", "-n", namespace, "-o", "json").stdout)["items"] == []


@pytest.mark.usefixtures("crd")
def test_production_secret_rules_apply_to_readable_secrets_only(kube: ControlPlane, namespace: str) -> None:
    weak = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "weak", "namespace": namespace},
        "stringData": {"DATABASE_URL": "postgresql://u:p@db/bosun", "SECRET_KEY": "changethis"},
    }
    kube.apply(json.dumps(weak))
    production = {"ENVIRONMENT": "production", "CORS_ORIGINS": "https://app.example.com"}
    document = release("weak", settings=production)
    document["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "weak"}}]
    missing = release("missing", settings=production)
    missing["spec"]["template"]["spec"]["containers"][0]["envFrom"] = [{"secretRef": {"name": "not-there"}}]
    with operator_process(kube, [namespace]):
        apply(kube, namespace, document)
        apply(kube, namespace, missing)
        weak_body = wait_for(kube, namespace, phase("Invalid"), "weak")
        missing_body = wait_for(kube, namespace, phase("Invalid"), "missing")
    assert "SECRET_KEY must be set to a random value" in condition(weak_body, "Valid")["message"]
    assert "'not-there'" in condition(missing_body, "Valid")["message"]


@pytest.mark.usefixtures("crd")
def test_a_settings_only_change_rolls_out_without_a_migration(
    kube: ControlPlane, namespace: str, empty_database: str, controllers: tuple[JobRunner, DeploymentController]
) -> None:
    jobs, _ = controllers
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]):
        apply(kube, namespace, release())
        wait_for(kube, namespace, phase("Ready"))
        changed = release(
            settings={"ENVIRONMENT": "staging", "CORS_ORIGINS": "https://app.example.com", "LOG_LEVEL": "DEBUG"}
        )
        apply(kube, namespace, changed)
        wait_for(kube, namespace, phase("Ready"))
        changed["spec"]["template"]["metadata"]["annotations"] = {"rollme": "1"}
        apply(kube, namespace, changed)
        wait_for(kube, namespace, phase("Ready"))
    deployment = get(kube, namespace, "deployment", "web")
    assert deployment is not None
    assert {"name": "LOG_LEVEL", "value": "DEBUG"} in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    assert deployment["spec"]["template"]["metadata"]["annotations"] == {"rollme": "1"}
    assert len(jobs.runs) == 1 and len(jobs_in(kube, namespace)) == 1


@pytest.mark.usefixtures("crd")
def test_paused_changes_nothing_until_resumed(
    kube: ControlPlane, namespace: str, empty_database: str, controllers: tuple[JobRunner, DeploymentController]
) -> None:
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]):
        apply(kube, namespace, release(paused=True))
        wait_for(kube, namespace, phase("Paused"))
        time.sleep(1.5)  # give a wrongly eager operator the time to act
        assert jobs_in(kube, namespace) == [] and get(kube, namespace, "deployment", "web") is None
        apply(kube, namespace, release(paused=False))
        wait_for(kube, namespace, phase("Ready"))
        apply(kube, namespace, release(image="registry.example.com/team/bosun:9.9.9", paused=True))
        wait_for(kube, namespace, phase("Paused"))
        time.sleep(1.5)
        assert len(jobs_in(kube, namespace)) == 1 and deployment_image(kube, namespace) == IMAGE


@pytest.mark.usefixtures("crd")
def test_killed_operator_converges_with_one_job(kube: ControlPlane, namespace: str, empty_database: str) -> None:
    database_secret(kube, namespace, empty_database)
    with cluster_controllers(kube, namespace) as (jobs, deployments):
        jobs.hold()
        operator = OperatorProcess(kube, [namespace])
        operator.start()
        apply(kube, namespace, release())
        wait_until(lambda: len(jobs_in(kube, namespace)) == 1)
        operator.kill()  # right after it created the Job, maybe before it wrote status
        operator.start()
        wait_for(kube, namespace, phase("Migrating"))
        operator.kill()  # while the Job runs
        jobs.release()
        wait_until(lambda: bool(jobs.finished))
        time.sleep(1)
        assert get(kube, namespace, "deployment", "web") is None  # nobody rolled out while the operator was down
        operator.start()
        try:
            wait_for(kube, namespace, phase("Ready"))
        finally:
            operator.stop()
    assert len(jobs_in(kube, namespace)) == 1 and len(jobs.runs) == 1
    assert deployments.first_seen["web"] > jobs.finished[jobs_in(kube, namespace)[0]["metadata"]["name"]]


@pytest.mark.usefixtures("crd")
def test_a_stuck_rollout_fails_with_the_deployments_reason(
    kube: ControlPlane, namespace: str, empty_database: str, controllers: tuple[JobRunner, DeploymentController]
) -> None:
    _, deployments = controllers
    deployments.stall("web")
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]):
        apply(kube, namespace, release())
        wait_for(kube, namespace, phase("RollingOut"))
        wait_until(lambda: get(kube, namespace, "deployment", "web") is not None)
        deployments.exceed_deadline("web")
        body = wait_for(kube, namespace, phase("RolloutFailed"))
        wait_until(partial(has_event, kube, namespace, "web", "Warning", "RolloutFailed"))
    rolled_out = condition(body, "RolledOut")
    assert rolled_out["status"] == "False" and rolled_out["reason"] == "ProgressDeadlineExceeded"
    assert "timed out progressing" in rolled_out["message"]


@pytest.mark.usefixtures("crd")
def test_two_namespaces_at_once(kube: ControlPlane, admin_url: str) -> None:
    first, second = kube.create_namespace(), kube.create_namespace()
    urls = [create_database(admin_url), create_database(admin_url)]
    try:
        for namespace, url in zip((first, second), urls, strict=True):
            database_secret(kube, namespace, url)
        with (
            cluster_controllers(kube, first),
            cluster_controllers(kube, second),
            operator_process(kube, [first, second]),
        ):
            for namespace in (first, second):
                apply(kube, namespace, release())
            for namespace in (first, second):
                wait_for(kube, namespace, phase("Ready"))
        assert all(schema_revision(url) == head_revision() for url in urls)
    finally:
        for url in urls:
            drop_database(admin_url, url)


@pytest.mark.usefixtures("crd")
def test_deleting_a_release_leaves_owned_objects_to_the_garbage_collector(
    kube: ControlPlane, namespace: str, empty_database: str, controllers: tuple[JobRunner, DeploymentController]
) -> None:
    database_secret(kube, namespace, empty_database)
    with operator_process(kube, [namespace]):
        apply(kube, namespace, release())
        uid = wait_for(kube, namespace, phase("Ready"))["metadata"]["uid"]
        kube.kubectl("delete", "apprelease", "web", "-n", namespace, "--wait=true", "--timeout=60s")
    assert get(kube, namespace, "apprelease", "web") is None
    owned = [get(kube, namespace, "deployment", "web"), *jobs_in(kube, namespace)]
    for body in owned:
        assert body is not None
        (owner,) = body["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == ("AppRelease", "web", uid, True)


@pytest.mark.usefixtures("crd")
def test_the_retry_annotation_runs_a_failed_migration_again(
    kube: ControlPlane, namespace: str, empty_database: str, tmp_path: Path
) -> None:
    """A migration that failed for a reason outside the release (a table another team had not made yet) runs again
    after `kubectl annotate apprelease web bosun.dev/retry=...`, with the spec unchanged."""
    v2 = "registry.example.com/team/bosun:2.0.0"
    needs = 'op.execute("ALTER TABLE made_elsewhere ADD COLUMN x int")'
    images = {v2: image_with_revision(tmp_path / "v2", "99990004", needs)}
    database_secret(kube, namespace, empty_database)
    with cluster_controllers(kube, namespace, images=images) as (jobs, _), operator_process(kube, [namespace]):
        apply(kube, namespace, release(image=v2))
        failed = wait_for(kube, namespace, phase("MigrationFailed"))
        assert condition(failed, "Migrated")["message"].startswith(
            'bosun: migration failed: relation "made_elsewhere" does not exist'
        )
        with psycopg.connect(libpq_url(empty_database), autocommit=True) as conn:
            conn.execute("CREATE TABLE made_elsewhere (id int)")
        kube.kubectl("annotate", "apprelease", "web", "-n", namespace, "bosun.dev/retry=1")
        body = wait_for(kube, namespace, phase("Ready"))
        wait_until(partial(has_event, kube, namespace, "web", "Normal", "MigrationRetried"))
    assert body["metadata"]["generation"] == 1  # the spec never changed
    assert [run.exit_code != 0 for run in jobs.runs] == [True, True, False]  # two failed attempts, then the retry
    (job,) = jobs_in(kube, namespace)
    assert job["metadata"]["annotations"]["bosun.dev/retry"] == "1"
    assert column_exists(empty_database, "made_elsewhere", "x")
