"""Act: carry out a plan's actions against the API, in order. No decisions here beyond adopting a Job that already
has its name (a restart between creating it and writing status)."""

import logging
from datetime import UTC, datetime
from typing import Any

from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.core_v1 import EventSource, ObjectReference
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.batch_v1 import Job
from lightkube.resources.core_v1 import Event
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

logger = logging.getLogger(__name__)


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
                await _post_event(client, release, kind, reason, message)
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


async def _post_event(client: AsyncClient, release: Release, kind: str, reason: str, message: str) -> None:
    """An Event on the release. It only informs (status says the same), so failing to post one is logged, not fatal."""
    metadata = release["metadata"]
    now = datetime.now(UTC)
    event = Event(
        metadata=ObjectMeta(generateName=f"{metadata['name']}.", namespace=metadata["namespace"]),
        involvedObject=ObjectReference(
            apiVersion=release["apiVersion"],
            kind=release["kind"],
            name=metadata["name"],
            namespace=metadata["namespace"],
            uid=metadata["uid"],
            resourceVersion=metadata.get("resourceVersion"),
        ),
        type=kind,
        reason=reason,
        message=message[:_EVENT_LIMIT],
        source=EventSource(component=FIELD_MANAGER),
        reportingComponent=FIELD_MANAGER,
        firstTimestamp=now,
        lastTimestamp=now,
        count=1,
    )
    try:
        await client.create(event)
    except ApiError as exc:
        logger.warning("could not post the %s Event on %s/%s: %s", reason, metadata["namespace"], metadata["name"], exc)


def _record(what: str, result: str, seconds: float | None) -> None:
    counter, histogram = (
        (metrics.MIGRATIONS, metrics.MIGRATION_DURATION)
        if what == "migration"
        else (metrics.ROLLOUTS, metrics.ROLLOUT_DURATION)
    )
    counter.labels(result).inc()
    if seconds is not None:
        histogram.labels(result).observe(seconds)
