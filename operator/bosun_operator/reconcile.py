"""One reconciliation of an AppRelease: validate -> migrate (a Job with the new image) -> roll out -> Ready.

Level-based: every step reads what exists (the release, its Job, its Deployment) and does the next thing, so a
restart at any point converges, a Job is never created twice (it has a fixed name and is adopted) and the
Deployment is never patched before its migration Job is Complete.
"""

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod
from lightkube.types import CascadeType, PatchType

from bosun_operator import metrics
from bosun_operator.resources import (
    FAILED_AT_ANNOTATION,
    FIELD_MANAGER,
    GENERATION_ANNOTATION,
    MIGRATION_ANNOTATION,
    AppRelease,
    job_name,
    migration_hash,
    owner_reference,
)
from bosun_operator.status import Condition, ConditionType, Outcome, differs, new_status, now
from bosun_operator.validation import InvalidSettings, read_environment, validate_settings
from bosun_operator.workloads import app_container, deployment, migration_job

logger = logging.getLogger(__name__)
_LOG_TAIL_LINES = 20
_ERROR_LINE = re.compile(r"error|fatal|failed|exception|timeout", re.IGNORECASE)


@dataclass(frozen=True)
class JobState:
    state: str  # running, complete, failed
    reason: str = ""
    message: str = ""
    seconds: float | None = None


async def reconcile(client: AsyncClient, namespace: str, name: str) -> str:
    """Bring one release a step closer to its spec; returns the result label for the metrics."""
    try:
        release: dict[str, Any] = dict(await client.get(AppRelease, name, namespace=namespace))  # raw JSON from the API
    except ApiError as exc:
        if exc.status.code == 404:
            forget(namespace, name)
            return "success"
        raise
    if release["metadata"].get("deletionTimestamp"):
        forget(namespace, name)
        return "success"
    outcome = await _decide(client, release)
    await _write_status(client, release, outcome)
    return "invalid" if outcome.phase == "Invalid" else "success"


def forget(namespace: str, name: str) -> None:
    """Drop the phase series of a release that is gone."""
    for phase in metrics.PHASES:
        try:
            metrics.RELEASE_PHASE.remove(namespace, name, phase)
        except KeyError:
            continue


async def _decide(client: AsyncClient, release: dict[str, Any]) -> Outcome:
    valid: dict[ConditionType, Condition]
    spec, metadata = release["spec"], release["metadata"]
    previous = release.get("status") or {}
    if spec.get("paused"):
        return Outcome("Paused")
    try:
        environment = await read_environment(client, metadata["namespace"], app_container(release))
        validate_settings(spec.get("settings") or {}, environment)
    except InvalidSettings as exc:
        return Outcome("Invalid", {"Valid": Condition("False", "InvalidSettings", str(exc))})
    valid = {"Valid": Condition("True", "SettingsValid", "the settings pass the service's rules")}

    digest = migration_hash(spec["image"], (spec.get("migration") or {}).get("command") or ["bosun", "migrate"])
    current = await _get(client, Deployment, metadata["name"], metadata["namespace"])
    deployed = (current.metadata.annotations or {}) if current and current.metadata else {}
    fields: dict[str, Any] = {"targetImage": spec["image"]}
    if deployed.get(MIGRATION_ANNOTATION) != digest:
        name = job_name(metadata["name"], digest)
        fields["migrationJob"] = name
        job = await _get(client, Job, name, metadata["namespace"])
        if job is None:
            await _create_job(client, release, name, digest)
            _event(release, "Normal", "MigrationStarted", f"Job {name} migrates the database for {spec['image']}")
            return Outcome(
                "Migrating", {**valid, "Migrated": Condition("Unknown", "JobCreated", f"Job {name}")}, fields
            )
        state = await _job_state(client, job)
        if state.state == "running":
            return Outcome(
                "Migrating", {**valid, "Migrated": Condition("Unknown", "JobRunning", f"Job {name}")}, fields
            )
        if state.state == "failed":
            failed_at = int((job.metadata.annotations or {}).get(FAILED_AT_ANNOTATION, metadata["generation"]))
            if failed_at < metadata["generation"]:
                await client.delete(Job, name, namespace=metadata["namespace"], cascade=CascadeType.BACKGROUND)
                return Outcome(
                    "Migrating", {**valid, "Migrated": Condition("Unknown", "Retrying", "the spec changed")}, fields
                )
            if previous.get("phase") != "MigrationFailed" or previous.get("migrationJob") != name:
                await _mark_failed(client, name, metadata["namespace"], metadata["generation"])
                _record_migration("failed", state)
                _event(
                    release,
                    "Warning",
                    "MigrationFailed",
                    f"Job {name} failed ({state.reason}): {_summary(state.message)}",
                )
            return Outcome(
                "MigrationFailed", {**valid, "Migrated": Condition("False", state.reason, state.message)}, fields
            )
        if previous.get("migrationJob") == name and previous.get("phase") == "Migrating":
            _record_migration("succeeded", state)
        valid["Migrated"] = Condition("True", "JobComplete", f"Job {name} completed")

    if deployed.get(MIGRATION_ANNOTATION) != digest or deployed.get(GENERATION_ANNOTATION) != str(
        metadata["generation"]
    ):
        current = await _apply_deployment(client, release, digest)
        fields["rolloutStartedAt"] = (
            previous.get("rolloutStartedAt") if previous.get("phase") == "RollingOut" else now()
        )
        if previous.get("phase") != "RollingOut":
            _event(release, "Normal", "RolloutStarted", f"Deployment {metadata['name']} rolls out {spec['image']}")
    return _rollout_outcome(release, current, valid, fields)


def _rollout_outcome(
    release: dict[str, Any], current: Deployment, conditions: dict[ConditionType, Condition], fields: dict[str, Any]
) -> Outcome:
    previous = release.get("status") or {}
    status = current.status
    replicas = current.spec.replicas if current.spec and current.spec.replicas is not None else 1
    image = current.spec.template.spec.containers[0].image if current.spec and current.spec.template.spec else None
    generation = current.metadata.generation if current.metadata else None
    if status is None or (status.observedGeneration or 0) < (generation or 0):
        progress = "waiting for the Deployment controller to see the change"
    else:
        for condition in status.conditions or []:
            if condition.type == "Progressing" and condition.status == "False":
                message = condition.message or condition.reason or "the rollout stopped progressing"
                if previous.get("phase") != "RolloutFailed":
                    _record_rollout("failed", previous)
                    _event(release, "Warning", "RolloutFailed", message)
                conditions["RolledOut"] = Condition("False", condition.reason or "RolloutFailed", message)
                return Outcome("RolloutFailed", conditions, fields)
        updated, available = status.updatedReplicas or 0, status.availableReplicas or 0
        if updated >= replicas and available >= replicas and (status.replicas or 0) <= replicas:
            if previous.get("phase") != "Ready":
                _record_rollout("succeeded", previous)
                _event(release, "Normal", "Ready", f"{replicas} replica(s) run {image}")
            fields["currentImage"] = image
            conditions["RolledOut"] = Condition(
                "True", "RolloutComplete", f"{replicas} replica(s) updated and available"
            )
            return Outcome("Ready", conditions, fields)
        progress = f"{updated} of {replicas} replica(s) updated, {available} available"
    conditions["RolledOut"] = Condition("Unknown", "RollingOut", progress)
    return Outcome("RollingOut", conditions, fields)


async def _write_status(client: AsyncClient, release: dict[str, Any], outcome: Outcome) -> None:
    metadata = release["metadata"]
    for phase in metrics.PHASES:
        metrics.RELEASE_PHASE.labels(metadata["namespace"], metadata["name"], phase).set(phase == outcome.phase)
    old = release.get("status") or {}
    status = new_status(old, outcome, metadata["generation"])
    if outcome.phase == "Invalid" and (
        old.get("phase") != "Invalid" or _message(old, "Valid") != _message(status, "Valid")
    ):
        _event(release, "Warning", "InvalidSettings", _message(status, "Valid"))
    if differs(old, status):
        await client.patch(
            AppRelease.Status,
            metadata["name"],
            {"status": status},
            namespace=metadata["namespace"],
            patch_type=PatchType.MERGE,
        )


def _message(status: dict[str, Any], kind: str) -> str:
    return next((str(c.get("message", "")) for c in status.get("conditions") or [] if c.get("type") == kind), "")


async def _get(client: AsyncClient, resource: Any, name: str, namespace: str) -> Any:
    try:
        return await client.get(resource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


async def _create_job(client: AsyncClient, release: dict[str, Any], name: str, digest: str) -> None:
    """Create the migration Job, or adopt the one that already has its name."""
    manifest = migration_job(release, name, digest)
    try:
        await client.create(Job.from_dict(manifest))  # type: ignore[call-overload]  # lightkube types from_dict loosely
    except ApiError as exc:
        if exc.status.code != 409:
            raise
        existing = await client.get(Job, name, namespace=manifest["metadata"]["namespace"])
        owners = existing.metadata.ownerReferences if existing.metadata else None
        if not any(owner.uid == release["metadata"]["uid"] for owner in owners or []):
            await client.patch(
                Job,
                name,
                {"metadata": {"ownerReferences": [owner_reference(release)]}},
                namespace=manifest["metadata"]["namespace"],
                patch_type=PatchType.MERGE,
            )


async def _mark_failed(client: AsyncClient, name: str, namespace: str, generation: int) -> None:
    await client.patch(
        Job,
        name,
        {"metadata": {"annotations": {FAILED_AT_ANNOTATION: str(generation)}}},
        namespace=namespace,
        patch_type=PatchType.MERGE,
    )


async def _job_state(client: AsyncClient, job: Job) -> JobState:
    status = job.status
    if status is None:
        return JobState("running")
    for condition in status.conditions or []:
        if condition.status != "True":
            continue
        if condition.type == "Complete":
            return JobState("complete", "JobComplete", seconds=_seconds(status.startTime, status.completionTime))
        if condition.type == "Failed":
            reason = condition.reason or "JobFailed"
            detail = condition.message or reason
            tail = await _log_tail(client, job)
            message = f"{detail}; the migration's last output:\n{tail}" if tail else f"{detail}; its log is unavailable"
            end = condition.lastTransitionTime
            return JobState("failed", reason, message, _seconds(status.startTime, end))
    return JobState("running")


async def _log_tail(client: AsyncClient, job: Job) -> str:
    """The failed migration's last output: its termination message (the kubelet fills it from the log)."""
    if not job.metadata or not job.metadata.name:
        return ""
    pods = [
        pod
        async for pod in client.list(
            Pod, namespace=job.metadata.namespace, labels={"batch.kubernetes.io/job-name": job.metadata.name}
        )
    ]
    pods.sort(
        key=lambda pod: (
            pod.metadata.creationTimestamp
            if pod.metadata and pod.metadata.creationTimestamp
            else datetime.min.replace(tzinfo=UTC)
        )
    )
    for pod in reversed(pods):
        for container in (pod.status.containerStatuses if pod.status else None) or []:
            terminated = container.state.terminated if container.state else None
            if terminated and terminated.message:
                return "\n".join(terminated.message.strip().splitlines()[-_LOG_TAIL_LINES:])
        try:
            if not pod.metadata or not pod.metadata.name:
                continue
            lines = [
                line
                async for line in client.log(
                    pod.metadata.name, namespace=job.metadata.namespace, tail_lines=_LOG_TAIL_LINES
                )
            ]
            return "".join(lines).strip()
        except ApiError:
            continue
    return ""


async def _apply_deployment(client: AsyncClient, release: dict[str, Any], digest: str) -> Deployment:
    manifest = deployment(release, digest)
    applied: Deployment = await client.patch(
        Deployment,
        manifest["metadata"]["name"],
        manifest,
        namespace=manifest["metadata"]["namespace"],
        patch_type=PatchType.APPLY,
        field_manager=FIELD_MANAGER,
        force=True,
    )
    return applied


def _record_migration(result: str, state: JobState) -> None:
    metrics.MIGRATIONS.labels(result).inc()
    if state.seconds is not None:
        metrics.MIGRATION_DURATION.labels(result).observe(state.seconds)


def _record_rollout(result: str, previous: dict[str, Any]) -> None:
    metrics.ROLLOUTS.labels(result).inc()
    started = previous.get("rolloutStartedAt")
    if isinstance(started, str):
        seconds = _seconds(datetime.fromisoformat(started), datetime.now(datetime.fromisoformat(started).tzinfo))
        if seconds is not None:
            metrics.ROLLOUT_DURATION.labels(result).observe(seconds)


def _summary(output: str) -> str:
    """The line of a failed migration's output that says what went wrong (its last error line)."""
    lines = [line.strip() for line in output.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if _ERROR_LINE.search(line) and not line.startswith("(Background on this error"):
            return line
    return lines[-1] if lines else ""


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return max(0.0, (end - start).total_seconds()) if start and end else None


def _event(release: dict[str, Any], kind: str, reason: str, message: str) -> None:
    """A Kubernetes Event on the release (posted by kopf in the background)."""
    kopf.event(kopf.Body(cast(kopf.RawBody, release)), type=kind, reason=reason, message=message[:1024])
