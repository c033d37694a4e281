"""The operator chart installed with its admission webhook, the operator run as a local process the apiserver calls.

No kubelet and no kube-proxy here: the chart's webhook Service becomes an ExternalName Service for `localhost`
(the apiserver resolves an ExternalName webhook Service to that host and the configuration's port), and the operator
listens on that port on loopback. Everything else is the chart's: the ValidatingWebhookConfiguration, the RBAC the
operator keeps its CA bundle with, the service account it acts as.
"""

import base64
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.charts import OPERATOR
from harness.control_plane import ControlPlane
from harness.ports import free_port

WEBHOOK = "validate.appreleases.bosun.dev"


@dataclass(frozen=True)
class OperatorInstall:
    """`helm install` of charts/bosun-operator, with what a local `bosun-operator` needs to act as its pod."""

    namespace: str
    release: str
    port: int
    kubeconfig: Path

    @property
    def fullname(self) -> str:
        return f"{self.release}-bosun-operator"

    @property
    def service(self) -> str:
        return f"{self.fullname}-webhook"

    @property
    def configuration(self) -> str:
        return f"{self.fullname}.{self.namespace}"

    def args(self) -> list[str]:
        """The pod's webhook arguments, listening on loopback."""
        return [
            f"--webhook-listen=127.0.0.1:{self.port}",
            f"--webhook-service={self.namespace}/{self.service}",
            f"--webhook-configuration={self.configuration}",
        ]

    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def ca_bundle(self, kube: ControlPlane) -> bytes:
        """The CA bundle the operator set in the webhook configuration ("" before)."""
        configuration: dict[str, Any] = kube.get_json("validatingwebhookconfiguration", self.configuration)
        (webhook,) = configuration["webhooks"]
        return base64.b64decode(webhook["clientConfig"].get("caBundle", ""))

    def client(self, kube: ControlPlane) -> httpx.Client:
        """An HTTPS client on the webhook trusting the configuration's CA bundle (connected by IP: no name check)."""
        context = ssl.create_default_context(cadata=self.ca_bundle(kube).decode())
        context.check_hostname = False
        return httpx.Client(base_url=f"https://127.0.0.1:{self.port}", verify=context, timeout=30)


def install_operator_chart(kube: ControlPlane, namespace: str, watched: list[str], *values: str) -> OperatorInstall:
    """Install the operator chart into `namespace` for `watched` namespaces; route its webhook Service to loopback."""
    port = free_port()
    release = "ops"
    kube.helm(
        "install",
        release,
        str(OPERATOR),
        "-n",
        namespace,
        "--skip-crds",
        "--set",
        f"watchNamespaces={{{','.join(watched)}}}",
        "--set",
        f"admission.port={port}",
        *values,
    )
    install = OperatorInstall(namespace, release, port, kube.kubeconfig_for(namespace, f"{release}-bosun-operator"))
    route_to_loopback(kube, namespace, install.service)
    return install


def route_to_loopback(kube: ControlPlane, namespace: str, service: str) -> None:
    """kube-proxy's part: the Service's traffic reaches this machine's loopback (an ExternalName `localhost`)."""
    kube.kubectl("delete", "service", service, "-n", namespace)
    external = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service, "namespace": namespace},
        "spec": {"type": "ExternalName", "externalName": "localhost"},
    }
    kube.apply(json.dumps(external))
