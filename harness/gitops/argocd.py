"""Argo CD on the single-node cluster, as pure functions of plain values (tested without a cluster).

- `install_objects`: Argo CD's own core install manifest with only what this machine forces changed: the image
  references (no registry serves quay.io's or ECR's images here; ours are imported into the node) and, for the same
  reason, `imagePullPolicy: Always` (which would try to pull them) becomes `IfNotPresent`.
- `cluster_secret`: a cluster registered declaratively, as `argocd cluster add` would (a ServiceAccount's token).
- `one_machine_values`: the bootstrap chart's values (deploy/argocd) when staging and production share this node.
- `application_state`: what an Application says of itself.
"""

import base64
import json
from dataclasses import dataclass
from typing import Any

import yaml

from harness.node.config import APISERVER_PORT, KUBERNETES_SERVICE_IP, NODE_IP

NAMESPACE = "argocd"
ENVIRONMENTS = ("staging", "production")
# The upstream images of the core install, by what they are.
UPSTREAM_ARGOCD = "quay.io/argoproj/argocd:"
UPSTREAM_REDIS = "public.ecr.aws/docker/library/redis:"
WORKLOAD_KINDS = ("Deployment", "StatefulSet")

Obj = dict[str, Any]


class ManifestError(ValueError):
    """Argo CD's manifest is not what this code knows how to adapt."""


def _local_image(image: str, argocd: str, redis: str) -> str:
    if image.startswith(UPSTREAM_ARGOCD):
        return argocd
    if image.startswith(UPSTREAM_REDIS):
        return redis
    raise ManifestError(f"Argo CD's install manifest names an image this machine cannot provide: {image}")


def install_objects(manifest: str, argocd: str, redis: str) -> list[Obj]:
    """The objects of Argo CD's install manifest, with the images this machine built and no forced pulls."""
    objects = [doc for doc in yaml.safe_load_all(manifest) if doc]
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in [*pod.get("initContainers", []), *pod["containers"]]:
            container["image"] = _local_image(container["image"], argocd, redis)
            if container.get("imagePullPolicy") == "Always":
                container["imagePullPolicy"] = "IfNotPresent"
    return objects


def cluster_secret(name: str, server: str, token: str, ca_pem: bytes) -> Obj:
    """A cluster registered in Argo CD under `name`, reached at `server` with a bearer token."""
    config = {"bearerToken": token, "tlsClientConfig": {"insecure": False, "caData": base64.b64encode(ca_pem).decode()}}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"cluster-{name}",
            "namespace": NAMESPACE,
            "labels": {"argocd.argoproj.io/secret-type": "cluster"},
        },
        "type": "Opaque",
        "stringData": {"name": name, "server": server, "config": json.dumps(config)},
    }


# One node stands for both environments' clusters: each is registered under its own name at its own address of the
# same apiserver (Argo CD tells clusters apart by address), and gets namespaces of its own.
CLUSTER_SERVERS = {
    "staging": f"https://{KUBERNETES_SERVICE_IP}:443",  # the `kubernetes` Service
    "production": f"https://{NODE_IP}:{APISERVER_PORT}",  # the apiserver itself
}


def namespaces(environment: str) -> tuple[str, str]:
    """The service's and the operator's namespace of an environment on the shared node."""
    return f"bosun-{environment}", f"bosun-{environment}-system"


# What the node cannot give the environments as Git describes them, and so is set by the installation instead:
# no ingress controller (an Ingress never gets an address, so Argo CD would keep it Progressing), no metrics-server
# (an HPA without metrics is Degraded), and two CPUs for both environments and Argo CD.
SHARED_NODE_SERVICE_VALUES: Obj = {
    "replicaCount": 1,
    "ingress": {"enabled": False},
    "autoscaling": {"enabled": False},
    "resources": {"requests": {"cpu": "50m"}},
}


def one_machine_values(repo_url: str, revision: str = "main") -> Obj:
    """deploy/argocd's values for staging and production on this node: own namespaces and operator release names,
    the CRD brought by staging's operator only, and the node's limits."""
    environments: Obj = {}
    for environment in ENVIRONMENTS:
        namespace, operator_namespace = namespaces(environment)
        environments[environment] = {
            "cluster": environment,
            "namespace": namespace,
            "operatorNamespace": operator_namespace,
            "operator": {"releaseName": f"bosun-operator-{environment}", "installCRD": environment == "staging"},
            "service": {"values": SHARED_NODE_SERVICE_VALUES},
        }
    return {"repoURL": repo_url, "targetRevision": revision, "environments": environments}


@dataclass(frozen=True)
class ApplicationState:
    """What an Application says of itself: sync status, health, message, the revision it compared, its operation."""

    sync: str
    health: str
    message: str
    revision: str
    operation: str = ""  # the phase of its last sync operation: Running while it (or a retry) goes on

    @property
    def settled(self) -> bool:
        """Synced and Healthy, with no sync still running (a failed commit's retries would block the next one)."""
        return self.sync == "Synced" and self.health == "Healthy" and self.operation != "Running"


def application_state(app: Obj) -> ApplicationState:
    """Sync status, health, the health (or last operation's) message and the synced revision of an Application."""
    status = app.get("status", {})
    health = status.get("health", {})
    message = health.get("message") or status.get("operationState", {}).get("message", "")
    return ApplicationState(
        sync=status.get("sync", {}).get("status", "Unknown"),
        health=health.get("status", "Unknown"),
        message=message,
        revision=status.get("sync", {}).get("revision", ""),
        operation=status.get("operationState", {}).get("phase", ""),
    )
