"""Act: carry out a plan's actions against the API, in order. No decisions here beyond adopting a Job that already
has its name (a restart between creating it and writing status)."""

from typing import Any, cast

import kopf
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.types import CascadeType, PatchType

from bosun_operator import metrics
from bosun_operator.observe import Release
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
)
from bosun_operator.resources import FAILED_AT_ANNOTATION, FIELD_MANAGER, AppRelease, owner_reference
from bosun_operator.workloads import Manifest

_EVENT_LIMIT = 1024


async def execute(
    client: AsyncClient, namespace: str, name: str, release: Release | None, actions: tuple[Action, ...]
) -> None:
    """Run the actions one after the other; the first failure stops the rest (the next reconciliation retries)."""
    for action in actions:
        match action:
            case CreateJob(manifest):
                assert release is not None
                await _create_job(client, release, manifest)
            case DeleteJob(job):
                await client.delete(Job, job, namespace=namespace, cascade=CascadeType.BACKGROUND)
            case MarkJobFailed(job, generation):
                annotations = {FAILED_AT_ANNOTATION: str(generation)}
                await client.patch(
                    Job,
                    job,
                    {"metadata": {"annotations": annotations}},
                    namespace=namespace,
                    patch_type=PatchType.MERGE,
                )
            case ApplyDeployment(manifest):
                await client.patch(
                    Deployment,
                    name,
                    manifest,
                    namespace=namespace,
                    patch_type=PatchType.APPLY,
                    field_manager=FIELD_MANAGER,
                    force=True,
                )
            case PostEvent(kind, reason, message):
                assert release is not None
                # Posted by kopf in the background.
                kopf.event(
                    kopf.Body(cast(kopf.RawBody, release)), type=kind, reason=reason, message=message[:_EVENT_LIMIT]
                )
            case RecordFinish(what, result, seconds):
                _record(what, result, seconds)
            case WriteStatus(status):
                await client.patch(
                    AppRelease.Status, name, {"status": status}, namespace=namespace, patch_type=PatchType.MERGE
                )
            case Forget():
                metrics.forget_release(namespace, name)


async def _create_job(client: AsyncClient, release: Release, manifest: Manifest) -> None:
    """Create the migration Job, or adopt the one that already has its name."""
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    try:
        await client.create(Job.from_dict(manifest))  # type: ignore[call-overload]  # lightkube types from_dict loosely
    except ApiError as exc:
        if exc.status.code != 409:
            raise
        existing = await client.get(Job, name, namespace=namespace)
        owners = existing.metadata.ownerReferences if existing.metadata else None
        if not any(owner.uid == release["metadata"]["uid"] for owner in owners or []):
            patch: dict[str, Any] = {"metadata": {"ownerReferences": [owner_reference(release)]}}
            await client.patch(Job, name, patch, namespace=namespace, patch_type=PatchType.MERGE)


def _record(what: str, result: str, seconds: float | None) -> None:
    counter, histogram = (
        (metrics.MIGRATIONS, metrics.MIGRATION_DURATION)
        if what == "migration"
        else (metrics.ROLLOUTS, metrics.ROLLOUT_DURATION)
    )
    counter.labels(result).inc()
    if seconds is not None:
        histogram.labels(result).observe(seconds)
