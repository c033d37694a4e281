"""The manifests the operator owns for a release: its migration Job and its Deployment."""

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from bosun_operator.resources import (
    DEFAULT_MIGRATION_BACKOFF_LIMIT,
    DEFAULT_MIGRATION_COMMAND,
    DEFAULT_MIGRATION_TIMEOUT_SECONDS,
    GENERATION_ANNOTATION,
    MIGRATION_ANNOTATION,
    RETRY_ANNOTATION,
    owned_labels,
    owner_reference,
    selector_labels,
)

Manifest = dict[str, Any]

# What a migration pod takes from the release's pod template besides its container.
_JOB_POD_FIELDS = (
    "securityContext",
    "serviceAccountName",
    "automountServiceAccountToken",
    "imagePullSecrets",
    "volumes",
    "nodeSelector",
    "tolerations",
    "affinity",
    "priorityClassName",
)
_JOB_CONTAINER_FIELDS = ("envFrom", "volumeMounts", "securityContext", "resources", "imagePullPolicy")


def app_container(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The service's container in a release spec's template (the first one); {} for a template of another shape."""
    template = spec.get("template")
    pod = template.get("spec") if isinstance(template, dict) else None
    containers = pod.get("containers") if isinstance(pod, dict) else None
    first = containers[0] if isinstance(containers, list) and containers else None
    return first if isinstance(first, dict) else {}


def migration_command(spec: Mapping[str, Any]) -> list[str]:
    """What the migration Job runs."""
    return list((spec.get("migration") or {}).get("command") or DEFAULT_MIGRATION_COMMAND)


def retry_token(release: Mapping[str, Any]) -> str:
    """The release's retry annotation ("" when unset)."""
    return str((release["metadata"].get("annotations") or {}).get(RETRY_ANNOTATION, ""))


def with_settings(env: Sequence[Mapping[str, Any]], settings: Mapping[str, str]) -> list[dict[str, Any]]:
    """The template's env with the release's settings after it (settings win; no name twice)."""
    kept = [dict(variable) for variable in env if variable.get("name") not in settings]
    return kept + [{"name": name, "value": value} for name, value in sorted(settings.items())]


def migration_job(release: Mapping[str, Any], name: str, digest: str) -> Manifest:
    """The Job that runs the migration command with the new image and the release's environment."""
    metadata, spec = release["metadata"], release["spec"]
    migration = spec.get("migration") or {}
    template_spec = spec.get("template", {}).get("spec", {})
    source = app_container(spec) or {"name": "bosun"}
    container: dict[str, Any] = {
        "name": "migrate",
        "image": spec["image"],
        "command": migration_command(spec),
        "env": with_settings(source.get("env") or [], spec.get("settings") or {}),
        # The tail of the log becomes the termination message: status shows why a migration failed.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    container.update({key: copy.deepcopy(source[key]) for key in _JOB_CONTAINER_FIELDS if key in source})
    pod_spec: dict[str, Any] = {
        key: copy.deepcopy(template_spec[key]) for key in _JOB_POD_FIELDS if key in template_spec
    }
    pod_spec.update({"restartPolicy": "Never", "containers": [container]})
    labels = owned_labels(metadata["name"])
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": metadata["namespace"],
            "labels": labels,
            "annotations": {
                MIGRATION_ANNOTATION: digest,
                GENERATION_ANNOTATION: str(metadata["generation"]),
                RETRY_ANNOTATION: retry_token(release),
            },
            "ownerReferences": [owner_reference(dict(release))],
        },
        "spec": {
            "backoffLimit": int(migration.get("backoffLimit", DEFAULT_MIGRATION_BACKOFF_LIMIT)),
            "activeDeadlineSeconds": int(migration.get("timeoutSeconds", DEFAULT_MIGRATION_TIMEOUT_SECONDS)),
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def deployment(release: Mapping[str, Any], digest: str) -> Manifest:
    """The Deployment as the operator applies it (server-side apply: only the fields it owns)."""
    metadata, spec = release["metadata"], release["spec"]
    template = copy.deepcopy(spec.get("template") or {})
    template_metadata = template.setdefault("metadata", {})
    template_metadata["labels"] = {**(template_metadata.get("labels") or {}), **selector_labels(metadata["name"])}
    pod_spec = template.setdefault("spec", {})
    containers = pod_spec.get("containers") or [{"name": "bosun"}]
    app = containers[0]
    app["image"] = spec["image"]
    app["env"] = with_settings(app.get("env") or [], spec.get("settings") or {})
    pod_spec["containers"] = containers
    deployment_spec: dict[str, Any] = {
        "selector": {"matchLabels": selector_labels(metadata["name"])},
        "template": template,
    }
    if spec.get("replicas") is not None:
        deployment_spec["replicas"] = int(spec["replicas"])  # left out: a HorizontalPodAutoscaler owns it
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "labels": owned_labels(metadata["name"]),
            "annotations": {MIGRATION_ANNOTATION: digest, GENERATION_ANNOTATION: str(metadata["generation"])},
            "ownerReferences": [owner_reference(dict(release))],
        },
        "spec": deployment_spec,
    }
