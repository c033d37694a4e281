"""Plan: from what was observed to the outcome (phase, conditions, status) and the actions to take. Pure: no I/O and
no clock (the time is an argument), so the decision table is tested without a cluster."""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from bosun_operator.metrics import Finish, Result
from bosun_operator.observe import DeploymentView, JobView, Observed, Release
from bosun_operator.resources import job_name
from bosun_operator.status import Condition, ConditionType, Outcome, differs, new_status, timestamp
from bosun_operator.validation import InvalidSettings, release_problem
from bosun_operator.workloads import Manifest, deployment, migration_job, retry_token

# The line of a failed migration's output that says what went wrong: `bosun migrate` prints it as `bosun: ...`;
# other commands get their last error-looking line.
_ERROR_LINE = re.compile(r"error|fatal|failed|exception|timeout", re.IGNORECASE)


@dataclass(frozen=True)
class CreateJob:
    manifest: Manifest


@dataclass(frozen=True)
class DeleteJob:
    name: str


@dataclass(frozen=True)
class MarkJobFailed:
    """Record on the Job the release generation its failure was seen at."""

    name: str
    generation: int


@dataclass(frozen=True)
class ApplyDeployment:
    manifest: Manifest


@dataclass(frozen=True)
class PostEvent:
    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class RecordFinish:
    """A migration or rollout that finished, for the metrics."""

    what: Literal["migration", "rollout"]
    result: Finish
    seconds: float | None


@dataclass(frozen=True)
class WriteStatus:
    status: dict[str, Any]


@dataclass(frozen=True)
class Forget:
    """The release is gone: drop what the operator keeps about it."""


Action = CreateJob | DeleteJob | MarkJobFailed | ApplyDeployment | PostEvent | RecordFinish | WriteStatus | Forget


@dataclass(frozen=True)
class Plan:
    outcome: Outcome | None  # None: the release is gone
    actions: tuple[Action, ...] = ()
    result: Result = "success"


@dataclass
class _Step:
    """The decision under way: conditions and status fields so far, actions in order."""

    previous: dict[str, Any]
    conditions: dict[ConditionType, Condition] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)

    def outcome(self, phase: Any) -> Outcome:
        return Outcome(phase, dict(self.conditions), dict(self.fields))


def plan(observed: Observed, now: datetime) -> Plan:
    """The outcome of one reconciliation and the actions that get there."""
    release = observed.release
    if release is None:
        return Plan(None, (Forget(),))
    outcome, actions = _decide(observed, release, now)
    old = release.get("status") or {}
    status = new_status(old, outcome, release["metadata"]["generation"], timestamp(now))
    if outcome.phase == "Invalid" and (old.get("phase") != "Invalid" or _message(old) != _message(status)):
        actions.append(PostEvent("Warning", "InvalidSettings", _message(status)))
    if differs(old, status):
        actions.append(WriteStatus(status))
    return Plan(outcome, tuple(actions), "invalid" if outcome.phase == "Invalid" else "success")


def _decide(observed: Observed, release: Release, now: datetime) -> tuple[Outcome, list[Action]]:
    spec = release["spec"]
    step = _Step(release.get("status") or {})
    if spec.get("paused"):
        return step.outcome("Paused"), step.actions
    problem = release_problem(spec, observed.environment or InvalidSettings("the environment was not read"))
    if problem is not None:
        step.conditions["Valid"] = Condition("False", "InvalidSettings", problem)
        return step.outcome("Invalid"), step.actions
    step.conditions["Valid"] = Condition("True", "SettingsValid", "the settings pass the service's rules")
    step.fields["targetImage"] = spec["image"]
    digest = observed.digest
    current = observed.deployment
    if current is None or current.migration != digest:
        waiting = _migrate(step, release, observed.job, digest, now)
        if waiting is not None:
            return waiting, step.actions
    generation = str(release["metadata"]["generation"])
    if current is None or current.migration != digest or current.release_generation != generation:
        step.actions.append(ApplyDeployment(deployment(release, digest)))
        previous_phase = step.previous.get("phase")
        step.fields["rolloutStartedAt"] = (
            step.previous.get("rolloutStartedAt") if previous_phase == "RollingOut" else timestamp(now)
        )
        if previous_phase != "RollingOut":
            message = f"Deployment {release['metadata']['name']} rolls out {spec['image']}"
            step.actions.append(PostEvent("Normal", "RolloutStarted", message))
        step.conditions["RolledOut"] = Condition(
            "Unknown", "RollingOut", "waiting for the Deployment controller to see the change"
        )
        return step.outcome("RollingOut"), step.actions
    return _rollout(step, current, now), step.actions


def _migrate(step: _Step, release: Release, job: JobView | None, digest: str, now: datetime) -> Outcome | None:
    """The migration the spec asks for: None once it is complete, else the phase to stop at."""
    metadata, spec = release["metadata"], release["spec"]
    name = job_name(metadata["name"], digest)
    step.fields["migrationJob"] = name
    if job is None:
        step.actions.append(CreateJob(migration_job(release, name, digest)))
        message = f"Job {name} migrates the database for {spec['image']}"
        step.actions.append(PostEvent("Normal", "MigrationStarted", message))
        step.conditions["Migrated"] = Condition("Unknown", "JobCreated", f"Job {name}")
        return step.outcome("Migrating")
    if job.state == "running":
        step.conditions["Migrated"] = Condition("Unknown", "JobRunning", f"Job {name}")
        return step.outcome("Migrating")
    if job.state == "failed":
        return _failed(step, release, job)
    if step.previous.get("migrationJob") == name and step.previous.get("phase") == "Migrating":
        step.actions.append(RecordFinish("migration", "succeeded", job.seconds))
    step.conditions["Migrated"] = Condition("True", "JobComplete", f"Job {name} completed")
    return None


def _failed(step: _Step, release: Release, job: JobView) -> Outcome:
    generation = release["metadata"]["generation"]
    token = retry_token(release)
    if (job.failed_at if job.failed_at is not None else generation) < generation:
        step.actions.append(DeleteJob(job.name))
        step.conditions["Migrated"] = Condition("Unknown", "Retrying", "the spec changed")
        return step.outcome("Migrating")
    if token and token != job.retry:
        step.actions.append(DeleteJob(job.name))
        message = f"bosun.dev/retry={token}: Job {job.name} runs again"
        step.actions.append(PostEvent("Normal", "MigrationRetried", message))
        step.conditions["Migrated"] = Condition("Unknown", "Retrying", message)
        return step.outcome("Migrating")
    if step.previous.get("phase") != "MigrationFailed" or step.previous.get("migrationJob") != job.name:
        summary = summary_line(job.log_tail) or job.message
        step.actions.append(MarkJobFailed(job.name, generation))
        step.actions.append(RecordFinish("migration", "failed", job.seconds))
        step.actions.append(PostEvent("Warning", "MigrationFailed", f"{summary} (Job {job.name}: {job.reason})"))
        step.conditions["Migrated"] = Condition("False", job.reason, _failure_message(job, summary))
    return step.outcome("MigrationFailed")


def _failure_message(job: JobView, summary: str) -> str:
    """What failed first (one line), then the Job's own reason and the migration's last output."""
    if not job.log_tail:
        return f"{summary}\nJob {job.name}: {job.message}; its log is unavailable"
    return f"{summary}\nJob {job.name}: {job.message}; the migration's last output:\n{job.log_tail}"


def _rollout(step: _Step, current: DeploymentView, now: datetime) -> Outcome:
    previous = step.previous
    if current.observed_generation < current.generation:
        step.conditions["RolledOut"] = Condition(
            "Unknown", "RollingOut", "waiting for the Deployment controller to see the change"
        )
        return step.outcome("RollingOut")
    if current.stalled is not None:
        reason, message = current.stalled
        if previous.get("phase") != "RolloutFailed":
            step.actions.append(RecordFinish("rollout", "failed", _since(previous.get("rolloutStartedAt"), now)))
            step.actions.append(PostEvent("Warning", "RolloutFailed", message))
        step.conditions["RolledOut"] = Condition("False", reason, message)
        return step.outcome("RolloutFailed")
    replicas = current.replicas
    if current.updated >= replicas and current.available >= replicas and current.total <= replicas:
        if previous.get("phase") != "Ready":
            step.actions.append(RecordFinish("rollout", "succeeded", _since(previous.get("rolloutStartedAt"), now)))
            step.actions.append(PostEvent("Normal", "Ready", f"{replicas} replica(s) run {current.image}"))
        step.fields["currentImage"] = current.image
        step.conditions["RolledOut"] = Condition(
            "True", "RolloutComplete", f"{replicas} replica(s) updated and available"
        )
        return step.outcome("Ready")
    progress = f"{current.updated} of {replicas} replica(s) updated, {current.available} available"
    step.conditions["RolledOut"] = Condition("Unknown", "RollingOut", progress)
    return step.outcome("RollingOut")


def summary_line(output: str) -> str:
    """The line of a failed migration's output that says what went wrong."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith("bosun: "):
            return line
    for line in reversed(lines):
        if _ERROR_LINE.search(line) and not line.startswith("(Background on this error"):
            return line
    return lines[-1] if lines else ""


def _since(started: object, now: datetime) -> float | None:
    if not isinstance(started, str):
        return None
    try:
        return max(0.0, (now - datetime.fromisoformat(started)).total_seconds())
    except (ValueError, TypeError):
        return None


def _message(status: dict[str, Any]) -> str:
    return next((str(c.get("message", "")) for c in status.get("conditions") or [] if c.get("type") == "Valid"), "")
