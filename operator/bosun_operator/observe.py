"""Observe: read what exists for one release (the release, its migration Job, its Deployment, its env sources) into
plain values that `plan` decides on. Reads only; every write is an action of `act`."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Pod

from bosun_operator.resources import (
    FAILED_AT_ANNOTATION,
    GENERATION_ANNOTATION,
    MIGRATION_ANNOTATION,
    RETRY_ANNOTATION,
    AppRelease,
    job_name,
    migration_hash,
)
from bosun_operator.validation import Environment, InvalidSettings, observe_environment
from bosun_operator.workloads import migration_command

Release = dict[str, Any]  # the AppRelease as the API returns it (JSON)
_LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class JobView:
    """A migration Job as far as the decision goes."""

    name: str
    state: Literal["running", "complete", "failed"]
    reason: str = ""
    message: str = ""
    seconds: float | None = None  # from start to end, once finished
    failed_at: int | None = None  # the release generation its failure was first seen at
    retry: str = ""  # the release's retry annotation when the Job was made
    log_tail: str = ""  # a failed Job's last output (read only while its failure is not yet reported)


@dataclass(frozen=True)
class DeploymentView:
    """The release's Deployment as far as the decision goes."""

    migration: str | None  # the migration hash it was last rolled out after
    release_generation: str | None  # the release generation it was last applied for
    replicas: int
    image: str | None
    generation: int
    observed_generation: int
    updated: int = 0
    available: int = 0
    total: int = 0
    stalled: tuple[str, str] | None = None  # (reason, message) of Progressing=False


@dataclass(frozen=True)
class Observed:
    """Everything one reconciliation decides on. `release` None: the release is gone (or being deleted)."""

    namespace: str
    name: str
    release: Release | None
    environment: Environment | InvalidSettings | None = None  # None while paused (not read)
    job: JobView | None = None  # the Job of the migration the spec asks for
    deployment: DeploymentView | None = None

    @property
    def digest(self) -> str:
        assert self.release is not None
        spec = self.release["spec"]
        return migration_hash(spec["image"], migration_command(spec))


async def observe(client: AsyncClient, namespace: str, name: str) -> Observed:
    """Read the release and what it owns."""
    raw = await _get(client, AppRelease, name, namespace)
    release: Release | None = dict(raw) if raw is not None else None
    if release is None or release["metadata"].get("deletionTimestamp"):
        return Observed(namespace, name, None)
    spec = release["spec"]
    if spec.get("paused"):
        return Observed(namespace, name, release)
    environment = await observe_environment(client, namespace, spec)
    found = Observed(namespace, name, release, environment)
    deployment = await _get(client, Deployment, name, namespace)
    job = await _get(client, Job, job_name(name, found.digest), namespace)
    job_view = view_of_job(job) if job is not None else None
    if job_view is not None and job_view.state == "failed" and not _failure_reported(release, job_view.name):
        job_view = _with_log_tail(job_view, await _log_tail(client, job))
    return Observed(
        namespace,
        name,
        release,
        environment,
        job_view,
        view_of_deployment(deployment) if deployment is not None else None,
    )


def view_of_job(job: Job) -> JobView:
    """What a Job's conditions say: running, complete or failed (with the reason and the duration)."""
    metadata, status = job.metadata, job.status
    annotations = (metadata.annotations if metadata else None) or {}
    failed_at = annotations.get(FAILED_AT_ANNOTATION)
    common: dict[str, Any] = {
        "name": metadata.name if metadata and metadata.name else "",
        "failed_at": int(failed_at) if failed_at and failed_at.isdigit() else None,
        "retry": annotations.get(RETRY_ANNOTATION, ""),
    }
    for condition in (status.conditions if status else None) or []:
        if condition.status != "True" or status is None:
            continue
        if condition.type == "Complete":
            seconds = _seconds(status.startTime, status.completionTime)
            return JobView(state="complete", reason="JobComplete", seconds=seconds, **common)
        if condition.type == "Failed":
            reason = condition.reason or "JobFailed"
            seconds = _seconds(status.startTime, condition.lastTransitionTime)
            return JobView(
                state="failed", reason=reason, message=condition.message or reason, seconds=seconds, **common
            )
    return JobView(state="running", **common)


def view_of_deployment(deployment: Deployment) -> DeploymentView:
    metadata, spec, status = deployment.metadata, deployment.spec, deployment.status
    annotations = (metadata.annotations if metadata else None) or {}
    pod = spec.template.spec if spec else None
    stalled = next(
        (
            (c.reason or "RolloutFailed", c.message or c.reason or "the rollout stopped progressing")
            for c in (status.conditions if status else None) or []
            if c.type == "Progressing" and c.status == "False"
        ),
        None,
    )
    return DeploymentView(
        migration=annotations.get(MIGRATION_ANNOTATION),
        release_generation=annotations.get(GENERATION_ANNOTATION),
        replicas=spec.replicas if spec and spec.replicas is not None else 1,
        image=pod.containers[0].image if pod and pod.containers else None,
        generation=(metadata.generation if metadata else None) or 0,
        observed_generation=(status.observedGeneration if status else None) or 0,
        updated=(status.updatedReplicas if status else None) or 0,
        available=(status.availableReplicas if status else None) or 0,
        total=(status.replicas if status else None) or 0,
        stalled=stalled,
    )


def _failure_reported(release: Release, job: str) -> bool:
    status: Mapping[str, Any] = release.get("status") or {}
    return bool(status.get("phase") == "MigrationFailed" and status.get("migrationJob") == job)


def _with_log_tail(view: JobView, tail: str) -> JobView:
    return JobView(**{**view.__dict__, "log_tail": tail})


async def _get(client: AsyncClient, resource: Any, name: str, namespace: str) -> Any:
    try:
        return await client.get(resource, name, namespace=namespace)
    except ApiError as exc:
        if exc.status.code == 404:
            return None
        raise


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
        if not pod.metadata or not pod.metadata.name:
            continue
        try:
            lines = [
                line
                async for line in client.log(
                    pod.metadata.name, namespace=job.metadata.namespace, tail_lines=_LOG_TAIL_LINES
                )
            ]
        except ApiError:
            continue
        return "".join(lines).strip()
    return ""


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return max(0.0, (end - start).total_seconds()) if start and end else None
