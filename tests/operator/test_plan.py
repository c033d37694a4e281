"""The decision table: what one reconciliation concludes and does for each state of a release, its Job and its
Deployment. Pure: no apiserver, no clock."""

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from bosun_operator.observe import DeploymentView, JobView, Observed
from bosun_operator.plan import (
    Action,
    ApplyDeployment,
    CreateJob,
    DeleteJob,
    Forget,
    MarkJobFailed,
    PostEvent,
    RecordFinish,
    WriteStatus,
    plan,
    summary_line,
)
from bosun_operator.resources import RETRY_ANNOTATION, job_name, migration_hash
from bosun_operator.status import PHASES
from bosun_operator.validation import Environment, InvalidSettings

NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)
IMAGE = "registry.example.com/team/bosun:2.0.0"
DIGEST = migration_hash(IMAGE, ["bosun", "migrate"])
JOB = job_name("web", DIGEST)
SECRETS = Environment(values={"DATABASE_URL": "postgresql://u:p@db/bosun", "SECRET_KEY": "k" * 48})
LOCK_FAILURE = (
    "INFO  [alembic.runtime.migration] Running upgrade\n"
    "bosun: migration failed: lock wait timeout: gave up after 5s (MIGRATION_LOCK_TIMEOUT)\n"
)


def release(generation: int = 2, status: dict[str, Any] | None = None, **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    return {
        "apiVersion": "bosun.dev/v1alpha1",
        "kind": "AppRelease",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "uid": "0b0b0b0b-0000-0000-0000-000000000001",
            "generation": generation,
            "annotations": annotations,
        },
        "spec": {
            "image": IMAGE,
            "replicas": 2,
            "settings": {"ENVIRONMENT": "staging", "CORS_ORIGINS": "https://app.example.com"},
            "template": {"spec": {"containers": [{"name": "bosun", "envFrom": [{"secretRef": {"name": "s"}}]}]}},
            **spec,
        },
        "status": status or {},
    }


def status(phase: str, generation: int = 2, **fields: Any) -> dict[str, Any]:
    return {"phase": phase, "observedGeneration": generation, "conditions": [], **fields}


def rolled_out(**changes: Any) -> DeploymentView:
    """The Deployment at the spec's migration and generation, all replicas updated and available."""
    values: dict[str, Any] = {
        "migration": DIGEST,
        "release_generation": "2",
        "replicas": 2,
        "image": IMAGE,
        "generation": 3,
        "observed_generation": 3,
        "updated": 2,
        "available": 2,
        "total": 2,
    }
    return DeploymentView(**{**values, **changes})


OLD_DEPLOYMENT = rolled_out(migration="0ld0ld0ld0", release_generation="1", image="registry.example.com/team/bosun:1")


def job(state: str, **changes: Any) -> JobView:
    return JobView(**{"name": JOB, "state": state, **changes})


def failed(**changes: Any) -> JobView:
    values = {"reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}
    return job("failed", **{**values, "log_tail": LOCK_FAILURE, "seconds": 12.0, **changes})


@dataclass
class Case:
    observed: Observed
    phase: str | None
    actions: list[type[Action]]  # the kinds of actions, in order (WriteStatus left out: checked on its own)
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)  # type -> (status, reason)
    events: list[str] = field(default_factory=list)  # reasons of the Events posted


def seen(
    body: dict[str, Any] | None,
    job_view: JobView | None = None,
    deployment: DeploymentView | None = None,
    environment: Environment | InvalidSettings | None = SECRETS,
) -> Observed:
    return Observed("shop", "web", body, environment, job_view, deployment)


CASES = {
    "deleted": Case(seen(None), None, [Forget]),
    "paused": Case(seen(release(paused=True), environment=None), "Paused", []),
    "invalid-setting": Case(
        seen(release(settings={"DB_POOL_SIZE": "many"})),
        "Invalid",
        [PostEvent],
        {"Valid": ("False", "InvalidSettings")},
        ["InvalidSettings"],
    ),
    "invalid-already-reported": Case(
        seen(
            release(
                settings={"DB_POOL_SIZE": "many"},
                status={
                    **status("Invalid"),
                    "conditions": [
                        {
                            "type": "Valid",
                            "status": "False",
                            "reason": "InvalidSettings",
                            "message": "invalid configuration: DB_POOL_SIZE: Input should be a valid integer, "
                            "unable to parse string as an integer",
                            "lastTransitionTime": "2026-12-01T00:00:00Z",
                            "observedGeneration": 2,
                        }
                    ],
                },
            )
        ),
        "Invalid",
        [],
        {"Valid": ("False", "InvalidSettings")},
    ),
    "invalid-database-url-from-a-secret": Case(
        seen(release(), environment=Environment(values={"DATABASE_URL": "mysql://u:hunter2@db/x"})),
        "Invalid",
        [PostEvent],
        {"Valid": ("False", "InvalidSettings")},
        ["InvalidSettings"],
    ),
    "missing-config-map": Case(
        seen(release(), environment=InvalidSettings("the ConfigMap 'cfg' that the template reads does not exist")),
        "Invalid",
        [PostEvent],
        {"Valid": ("False", "InvalidSettings")},
        ["InvalidSettings"],
    ),
    "non-text-setting": Case(
        seen(release(settings={"PORT": 8000})), "Invalid", [PostEvent], {"Valid": ("False", "InvalidSettings")}
    ),
    "first-release-creates-the-job": Case(
        seen(release()),
        "Migrating",
        [CreateJob, PostEvent],
        {"Migrated": ("Unknown", "JobCreated")},
        ["MigrationStarted"],
    ),
    "new-image-creates-the-job": Case(
        seen(release(), deployment=OLD_DEPLOYMENT), "Migrating", [CreateJob, PostEvent], events=["MigrationStarted"]
    ),
    "job-running": Case(
        seen(release(status=status("Migrating")), job("running"), OLD_DEPLOYMENT),
        "Migrating",
        [],
        {"Migrated": ("Unknown", "JobRunning")},
    ),
    "job-complete-rolls-out": Case(
        seen(release(status=status("Migrating", migrationJob=JOB)), job("complete", seconds=3.0), OLD_DEPLOYMENT),
        "RollingOut",
        [RecordFinish, ApplyDeployment, PostEvent],
        {"Migrated": ("True", "JobComplete"), "RolledOut": ("Unknown", "RollingOut")},
        ["RolloutStarted"],
    ),
    "job-failed": Case(
        seen(release(status=status("Migrating", migrationJob=JOB)), failed(), OLD_DEPLOYMENT),
        "MigrationFailed",
        [MarkJobFailed, RecordFinish, PostEvent],
        {"Migrated": ("False", "BackoffLimitExceeded")},
        ["MigrationFailed"],
    ),
    "job-deadline-exceeded": Case(
        seen(
            release(status=status("Migrating", migrationJob=JOB)),
            failed(reason="DeadlineExceeded", message="Job was active longer than specified deadline", log_tail=""),
            OLD_DEPLOYMENT,
        ),
        "MigrationFailed",
        [MarkJobFailed, RecordFinish, PostEvent],
        {"Migrated": ("False", "DeadlineExceeded")},
        ["MigrationFailed"],
    ),
    "job-failure-already-reported": Case(
        seen(release(status=status("MigrationFailed", migrationJob=JOB)), failed(failed_at=2), OLD_DEPLOYMENT),
        "MigrationFailed",
        [],
    ),
    "job-failed-before-a-spec-change-is-retried": Case(
        seen(release(generation=3, status=status("MigrationFailed", migrationJob=JOB)), failed(failed_at=2)),
        "Migrating",
        [DeleteJob],
        {"Migrated": ("Unknown", "Retrying")},
    ),
    "retry-annotation-runs-the-job-again": Case(
        seen(
            release(annotations={RETRY_ANNOTATION: "1764763200"}, status=status("MigrationFailed", migrationJob=JOB)),
            failed(failed_at=2),
            OLD_DEPLOYMENT,
        ),
        "Migrating",
        [DeleteJob, PostEvent],
        {"Migrated": ("Unknown", "Retrying")},
        ["MigrationRetried"],
    ),
    "retry-annotation-already-used": Case(
        seen(
            release(annotations={RETRY_ANNOTATION: "1764763200"}, status=status("MigrationFailed", migrationJob=JOB)),
            failed(failed_at=2, retry="1764763200"),
            OLD_DEPLOYMENT,
        ),
        "MigrationFailed",
        [],
    ),
    "deployment-not-yet-seen-by-its-controller": Case(
        seen(release(status=status("RollingOut")), job("complete"), rolled_out(generation=4, observed_generation=3)),
        "RollingOut",
        [],
        {"RolledOut": ("Unknown", "RollingOut")},
    ),
    "rollout-in-progress": Case(
        seen(release(status=status("RollingOut")), job("complete"), rolled_out(updated=1, available=1, total=3)),
        "RollingOut",
        [],
        {"RolledOut": ("Unknown", "RollingOut")},
    ),
    "rollout-complete": Case(
        seen(
            release(status=status("RollingOut", rolloutStartedAt="2026-12-03T11:59:00Z")), job("complete"), rolled_out()
        ),
        "Ready",
        [RecordFinish, PostEvent],
        {"RolledOut": ("True", "RolloutComplete")},
        ["Ready"],
    ),
    "ready-stays-ready": Case(seen(release(status=status("Ready")), job("complete"), rolled_out()), "Ready", []),
    "stuck-rollout": Case(
        seen(
            release(status=status("RollingOut")),
            job("complete"),
            rolled_out(stalled=("ProgressDeadlineExceeded", 'ReplicaSet "web-1" has timed out progressing.')),
        ),
        "RolloutFailed",
        [RecordFinish, PostEvent],
        {"RolledOut": ("False", "ProgressDeadlineExceeded")},
        ["RolloutFailed"],
    ),
    "stuck-rollout-already-reported": Case(
        seen(
            release(status=status("RolloutFailed")),
            job("complete"),
            rolled_out(stalled=("ProgressDeadlineExceeded", "timed out")),
        ),
        "RolloutFailed",
        [],
    ),
    "settings-change-rolls-out-without-a-job": Case(
        seen(release(generation=3, status=status("Ready")), None, rolled_out()),
        "RollingOut",
        [ApplyDeployment, PostEvent],
        events=["RolloutStarted"],
    ),
    "a-job-that-is-gone-after-its-rollout-is-not-recreated": Case(
        seen(release(status=status("Ready")), None, rolled_out()), "Ready", []
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_decision_table(case: Case) -> None:
    before = copy.deepcopy(case.observed)
    decided = plan(case.observed, NOW)
    assert case.observed.release == before.release  # the plan changes nothing it was given
    assert (decided.outcome.phase if decided.outcome else None) == case.phase
    assert [type(a) for a in decided.actions if not isinstance(a, WriteStatus)] == case.actions
    assert [a.reason for a in decided.actions if isinstance(a, PostEvent)] == case.events or not case.events
    for kind, (wanted_status, reason) in case.conditions.items():
        assert decided.outcome is not None
        condition = decided.outcome.conditions[kind]  # type: ignore[index]
        assert (condition.status, condition.reason) == (wanted_status, reason), kind
    assert decided.result == ("invalid" if case.phase == "Invalid" else "success")


def test_every_phase_is_in_the_table() -> None:
    assert {case.phase for case in CASES.values()} - {None} == set(PHASES)


def test_status_is_written_only_when_it_changes() -> None:
    first = plan(seen(release(status=status("Migrating")), job("running"), OLD_DEPLOYMENT), NOW)
    (write,) = [a for a in first.actions if isinstance(a, WriteStatus)]
    again = plan(seen(release(status=write.status), job("running"), OLD_DEPLOYMENT), NOW)
    assert again.actions == ()


def test_a_failed_migration_leads_with_the_line_that_says_what_failed() -> None:
    decided = plan(CASES["job-failed"].observed, NOW)
    assert decided.outcome is not None
    message = decided.outcome.conditions["Migrated"].message
    assert message.splitlines()[0] == (
        "bosun: migration failed: lock wait timeout: gave up after 5s (MIGRATION_LOCK_TIMEOUT)"
    )
    (event,) = [a for a in decided.actions if isinstance(a, PostEvent)]
    assert event.message.startswith("bosun: migration failed: lock wait timeout")
    assert MarkJobFailed(JOB, 2) in decided.actions


def test_the_database_url_is_named_never_shown() -> None:
    decided = plan(CASES["invalid-database-url-from-a-secret"].observed, NOW)
    assert decided.outcome is not None
    message = decided.outcome.conditions["Valid"].message
    assert "DATABASE_URL" in message and "PostgreSQL" in message
    assert all("hunter2" not in str(action) for action in decided.actions)


def test_the_job_carries_the_retry_token_it_was_made_for() -> None:
    decided = plan(seen(release(annotations={RETRY_ANNOTATION: "7"})), NOW)
    (create,) = [a for a in decided.actions if isinstance(a, CreateJob)]
    assert create.manifest["metadata"]["annotations"][RETRY_ANNOTATION] == "7"
    assert create.manifest["metadata"]["name"] == JOB


@pytest.mark.parametrize(
    ("output", "line"),
    [
        (LOCK_FAILURE, "bosun: migration failed: lock wait timeout: gave up after 5s (MIGRATION_LOCK_TIMEOUT)"),
        (
            "step 1\nERROR: relation x does not exist\n(Background on this error at: https://sqlalche.me)",
            "ERROR: relation x does not exist",
        ),
        ("just output", "just output"),
        ("", ""),
    ],
)
def test_the_summary_line(output: str, line: str) -> None:
    assert summary_line(output) == line
