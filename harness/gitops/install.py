"""`uv run poe gitops up`: Argo CD on the running node, releasing Bosun's staging and production from a Git server.

What `up` does, each step idempotent (a second `up` finds everything in place):
1. images: Bosun's (`poe images`) and Argo CD's; the node gets Bosun's under the references the environments in Git
   name (`deploy/environments/*/values.yaml`, `operator-values.yaml`): what a registry would serve them as.
2. the served repository: the node's Git server (`poe cluster up`) gets `bosun.git`, this checkout's commit as `main`
   (only when it does not exist yet: after that, it is the environments' Git and changes by commits).
3. Argo CD from its own core install manifest (`argocd.install_objects`), then deploy/argocd/argocd-cm.yaml the way
   docs/releasing.md applies it, and a faster Git poll for one machine.
4. what the environments need from outside Git: the Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule),
   each environment's database and Secrets (the secret store's part), the clusters `staging` and `production`.
5. `helm upgrade --install bosun-gitops deploy/argocd` with this node's values; waits until both roots and their
   Applications are Synced and Healthy.
"""

import base64
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import yaml

from harness import ci_tools
from harness.control_plane import ControlPlane
from harness.gitops import argocd
from harness.gitops.images import GitopsImages, ensure_gitops_images
from harness.gitops.repository import GitopsError, repository_url, serve_repository
from harness.images import ensure_images
from harness.node.cluster import Cluster, running
from harness.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
RELEASE = "bosun-gitops"
FIELD_MANAGER = "bosun"  # as docs/releasing.md's `kubectl apply --server-side --field-manager=bosun`
# How often Argo CD looks at Git here (its default is 120 s plus jitter); a Git webhook does this job in production.
RECONCILIATION = "15s"
MANAGER_ACCOUNT = "argocd-manager"  # the identity `argocd cluster add` creates in a registered cluster


def cluster() -> Cluster:
    found = running()
    if found is None:
        raise GitopsError("gitops: no cluster is up: run `uv run poe cluster up` first")
    return found


def image_references() -> dict[str, str]:
    """The references the environments in Git name, each to the image target that provides it."""
    wanted: dict[str, str] = {}
    for environment in argocd.ENVIRONMENTS:
        folder = DEPLOY / "environments" / environment
        for name, target in (("values.yaml", "runtime"), ("operator-values.yaml", "operator")):
            image = yaml.safe_load((folder / name).read_text())["image"]
            wanted[f"{image['repository']}:{image['tag']}"] = target
    return wanted


def apply(plane: ControlPlane, *objects: dict[str, Any], manager: str = FIELD_MANAGER, force: bool = False) -> None:
    """Server-side apply of objects under one field manager."""
    listing = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    flags = ["--force-conflicts"] if force else []
    plane.kubectl("apply", "--server-side", f"--field-manager={manager}", *flags, "-f", "-", input=json.dumps(listing))


def load_images(node: Cluster, gitops: GitopsImages) -> None:
    """This tree's images and Argo CD's into the node; Git's references given to this tree's images once (a tag,
    like a registry's, keeps naming what it named first)."""
    built = {image.target: image for image in ensure_images()}
    for image in built.values():
        node.import_image(image.archive, image.reference)
    present = node.images()
    for reference, target in image_references().items():
        if reference not in present:
            node.tag_image(built[target].reference, reference)
    for reference, archive in gitops.archives.items():
        node.import_image(archive, reference)


def install_argocd(plane: ControlPlane, gitops: GitopsImages) -> None:
    manifest = (ci_tools.argocd_dir() / "core-install.yaml").read_text()
    objects = argocd.install_objects(manifest, gitops.argocd, gitops.redis)
    plane.ensure_namespace(argocd.NAMESPACE)
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    apply(plane, *crds, manager="argocd-install", force=True)
    for crd in crds:
        plane.wait_established(crd["metadata"]["name"])
    # Before the workloads (they read these when they start): the documented step as written there, a Git poll for
    # one machine, and each resource's health kept in the Application (the AppRelease's message for kubectl: without
    # Argo CD's API server and UI, nothing else shows it).
    documented = ("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-f", "deploy/argocd/argocd-cm.yaml")
    plane.kubectl(*documented[:-1], str(REPO_ROOT / documented[-1]))
    one_machine = [
        ("argocd-cm", {"timeout.reconciliation": RECONCILIATION, "timeout.reconciliation.jitter": "0s"}),
        ("argocd-cmd-params-cm", {"controller.resource.health.persist": "true"}),
    ]
    apply(plane, *({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": argocd.NAMESPACE},
                    "data": data} for name, data in one_machine), manager="bosun-one-machine")  # fmt: skip
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    for obj in rest:
        obj["metadata"].setdefault("namespace", argocd.NAMESPACE)
    apply(plane, *rest, manager="argocd-install", force=True)
    for obj in rest:
        if obj["kind"] in argocd.WORKLOAD_KINDS:
            # Within the subprocess's own 300 s: kubectl's message, not a timeout, when it takes too long.
            plane.kubectl("rollout", "status", f"{obj['kind'].lower()}/{obj['metadata']['name']}",
                          "-n", argocd.NAMESPACE, "--timeout=240s")  # fmt: skip


def install_monitoring_crds(plane: ControlPlane) -> None:
    """The Prometheus Operator's CRDs the charts render objects of (the monitoring stack a real cluster has)."""
    paths = ci_tools.crds(ci_tools.prometheus_operator_crds_dir())
    wanted = [p for p in paths if "servicemonitors" in p.name or "prometheusrules" in p.name]
    if len(wanted) != 2:
        raise GitopsError("gitops: the Prometheus Operator's CRDs are not fetched: run `uv run poe ci-tools`")
    plane.install_crds(*wanted)


def _secret(name: str, namespace: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque", "stringData": data}  # fmt: skip


def environment_secrets(node: Cluster, plane: ControlPlane) -> None:
    """What a secret store gives each environment: its database and key, the SMTP password (each made once)."""
    for environment in argocd.ENVIRONMENTS:
        namespace, _ = argocd.namespaces(environment)
        values = yaml.safe_load((DEPLOY / "environments" / environment / "values.yaml").read_text())
        plane.ensure_namespace(namespace)
        for name in (values["secrets"]["existingSecret"], "smtp-credentials"):
            if plane.kubectl("get", "secret", name, "-n", namespace, check=False).returncode == 0:
                continue
            if name == "smtp-credentials":
                data = {"password": secrets.token_urlsafe(24)}
            else:
                url = node.postgres.create_database(f"bosun_{environment}", exist_ok=True)
                data = {"DATABASE_URL": url, "SECRET_KEY": secrets.token_urlsafe(48)}
            apply(plane, _secret(name, namespace, data), manager="bosun-secret-store")


def register_clusters(node: Cluster, plane: ControlPlane) -> None:
    """`staging` and `production` as Argo CD clusters: a ServiceAccount with cluster-admin and its token, like
    `argocd cluster add`."""
    account: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": MANAGER_ACCOUNT, "namespace": "kube-system"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": MANAGER_ACCOUNT},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": MANAGER_ACCOUNT, "namespace": "kube-system"}]},
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": f"{MANAGER_ACCOUNT}-token", "namespace": "kube-system",
                      "annotations": {"kubernetes.io/service-account.name": MANAGER_ACCOUNT}}},
    ]  # fmt: skip
    apply(plane, *account)
    token = ""
    deadline = time.monotonic() + 60
    while not token and time.monotonic() < deadline:
        found = plane.kubectl("get", "secret", f"{MANAGER_ACCOUNT}-token", "-n", "kube-system", "-o",
                              "jsonpath={.data.token}")  # fmt: skip
        token = found.stdout.strip()
        time.sleep(0.5)
    if not token:
        raise GitopsError("gitops: the controller-manager gave argocd-manager no token")
    ca = node.plane.certs.ca.read_bytes()
    decoded = base64.b64decode(token).decode()
    apply(plane, *(argocd.cluster_secret(name, server, decoded, ca) for name, server in argocd.CLUSTER_SERVERS.items()))


def install_environments(plane: ControlPlane) -> None:
    values = argocd.one_machine_values(repository_url())
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="bosun-gitops-") as file:
        yaml.safe_dump(values, file)
        file.flush()
        plane.helm("upgrade", "--install", RELEASE, str(DEPLOY / "argocd"), "--namespace", argocd.NAMESPACE,
                   "-f", file.name)  # fmt: skip


def applications(plane: ControlPlane) -> dict[str, argocd.ApplicationState]:
    listing = plane.get_json("applications.argoproj.io", "-n", argocd.NAMESPACE)
    items: list[dict[str, Any]] = listing["items"]  # type: ignore[assignment]
    return {app["metadata"]["name"]: argocd.application_state(app) for app in items}


EXPECTED_APPLICATIONS = tuple(
    f"bosun-{environment}{suffix}" for environment in argocd.ENVIRONMENTS for suffix in ("", "-operator", "-service")
)


def wait_settled(plane: ControlPlane, names: tuple[str, ...] = EXPECTED_APPLICATIONS, timeout: float = 900,
                 report: Callable[[str], None] | None = None,
                 revision: str | None = None) -> dict[str, argocd.ApplicationState]:  # fmt: skip
    """Until every named Application is Synced and Healthy with no sync running (at `revision` when given); raises
    with each one's state when time runs out."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        states = applications(plane)
        line = ", ".join(f"{n} {states[n].sync}/{states[n].health}" if n in states else f"{n} absent" for n in names)
        if line != last and report is not None:
            report(line)
        last = line
        if all(n in states and states[n].settled and revision in (None, states[n].revision) for n in names):
            return states
        if time.monotonic() > deadline:
            detail = "; ".join(f"{n}: {s.sync}/{s.health} {s.operation} {s.revision[:7]} {s.message}"
                               for n, s in states.items())  # fmt: skip
            raise GitopsError(f"gitops: not Synced and Healthy after {timeout:.0f}s: {detail}")
        time.sleep(3)


def up() -> None:
    node = cluster()
    plane = node.plane
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"gitops [{time.monotonic() - started:5.0f}s] {line}", file=sys.stderr)

    gitops = ensure_gitops_images()
    load_images(node, gitops)
    say(f"images loaded (Argo CD: {gitops.argocd}, Redis: {gitops.redis})")
    serve_repository(node.layout.git)
    say(f"serving {repository_url()}")
    install_monitoring_crds(plane)
    install_argocd(plane, gitops)
    say("Argo CD is running")
    environment_secrets(node, plane)
    register_clusters(node, plane)
    install_environments(plane)
    say("environments installed; waiting for Synced and Healthy")
    wait_settled(plane, report=say)
    say("staging and production are Synced and Healthy")


def status() -> list[str]:
    """One line per Application: sync status, health and message."""
    plane = cluster().plane
    if plane.kubectl("get", "namespace", argocd.NAMESPACE, check=False).returncode != 0:
        return ["gitops: Argo CD is not installed (run `uv run poe gitops up`)"]
    lines = [f"{name}: {s.sync}/{s.health} {s.message}".rstrip() for name, s in sorted(applications(plane).items())]
    return [f"repository: {repository_url()}", *lines]
