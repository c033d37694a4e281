"""The objects the operator reads and owns: the AppRelease resource, names, labels and annotations."""

import hashlib
import json
from collections.abc import Sequence

from lightkube.generic_resource import create_namespaced_resource

GROUP = "bosun.dev"
VERSION = "v1alpha1"
PLURAL = "appreleases"
AppRelease = create_namespaced_resource(GROUP, VERSION, "AppRelease", PLURAL)

FIELD_MANAGER = "bosun-operator"
MANAGED_BY = {"app.kubernetes.io/managed-by": "bosun-operator"}
RELEASE_LABEL = "bosun.dev/release"
# On the Deployment: the migration (hash of image and command) it was last rolled out after, and the release
# generation it was last applied for. Deployment metadata, so changing them never restarts pods.
MIGRATION_ANNOTATION = "bosun.dev/migration"
GENERATION_ANNOTATION = "bosun.dev/release-generation"
# On a Job: the release generation at which its failure was seen; only a later spec change retries it.
FAILED_AT_ANNOTATION = "bosun.dev/failed-at-generation"
# On a release: a new value (any text, e.g. a timestamp) runs its failed migration Job again, spec unchanged. The Job
# carries the value it was created for.
RETRY_ANNOTATION = "bosun.dev/retry"

# The migration Job when spec.migration leaves them out (the CRD's defaults; a test keeps the two equal).
DEFAULT_MIGRATION_COMMAND = ("bosun", "migrate")
DEFAULT_MIGRATION_TIMEOUT_SECONDS = 600
DEFAULT_MIGRATION_BACKOFF_LIMIT = 1
# Job names end up in a pod label (batch.kubernetes.io/job-name), which allows 63 characters.
_JOB_PREFIX_LENGTH = 63 - len("-migrate-") - 10


def migration_hash(image: str, command: Sequence[str]) -> str:
    """A short, stable hash of what a migration runs: the image and the command."""
    return hashlib.sha256(json.dumps([image, list(command)]).encode()).hexdigest()[:10]


def job_name(release: str, digest: str) -> str:
    """`<release>-migrate-<hash>`, the release part shortened so the name stays a valid label value."""
    return f"{release[:_JOB_PREFIX_LENGTH].rstrip('-.')}-migrate-{digest}"


def owner_reference(release: dict[str, object]) -> dict[str, object]:
    """Makes the AppRelease the controller of an object, so deleting it deletes the object."""
    metadata = release["metadata"]
    assert isinstance(metadata, dict)
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "AppRelease",
        "name": metadata["name"],
        "uid": metadata["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def selector_labels(release_name: str) -> dict[str, str]:
    """The Deployment's selector (immutable, so ours alone, never the chart's labels)."""
    return {RELEASE_LABEL: release_name}


def owned_labels(release_name: str) -> dict[str, str]:
    """Labels on every object the operator makes for a release; its watches select on them."""
    return {**MANAGED_BY, **selector_labels(release_name)}
