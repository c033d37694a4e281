"""The manifests the operator owns for a release: its migration Job and its Deployment."""

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from bosun_operator.resources import (
    GENERATION_ANNOTATION,
    MIGRATION_ANNOTATION,
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


def app_container(release: Mapping[str, Any]) -> dict[str, Any]:
    """The service's container in the release's template (the first one)."""
    containers = release["spec"].get("template", {}).get("spec", {}).get("containers") or [{"name": "bosun"}]
    container: dict[str, Any] = containers[0]
    return container


def with_settings(env: Sequence[Mapping[str, Any]], settings: Mapping[str, str]) -> list[dict[str, Any]]:
    """The template's env with the release's settings after it (settings win; no name twice)."""
    kept = [dict(variable) for variable in env if variable.get("name") not in settings]
    return kept + [{"name": name, "value": value} for name, value in sorted(settings.items())]


def migration_job(release: Mapping[str, Any], name: str, digest: str) -> Manifest:
    """The Job that runs the migration command with the new image and the release's environment."""
    metadata, spec = release["metadata"], release["spec"]
    migration = spec.get("migration") or {}
    template_spec = spec.get("template", {}).get("spec", {})
    source = app_container(release)
    container: dict[str, Any] = {
        "name": "migrate",
        "image": spec["image"],
        "command": list(migration.get("command") or ["bosun", "migrate"]),
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
            "annotations": {MIGRATION_ANNOTATION: digest, GENERATION_ANNOTATION: str(metadata["generation"])},
            "ownerReferences": [owner_reference(dict(release))],
        },
        "spec": {
            "backoffLimit": int(migration.get("backoffLimit", 1)),
            "activeDeadlineSeconds": int(migration.get("timeoutSeconds", 600)),
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
