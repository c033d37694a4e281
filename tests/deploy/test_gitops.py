"""deploy/: the Argo CD definitions and each environment, checked on real apiservers with Argo CD's own CRDs.

The management cluster (the session's apiserver) gets every Argo CD object of deploy/; each environment gets a
cluster of its own (staging and production are separate clusters) where what its Applications render is applied
in sync-wave order, as Argo CD would with ServerSideApply.
"""

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from bosun_operator.validation import Environment, InvalidSettings, validate_settings
from lupa.lua51 import LuaRuntime

from app.core.config import Settings
from harness.admission import route_to_loopback
from harness.charts import by_kind, render
from harness.ci_tools import argocd_crds_dir, crds, prometheus_operator_crds_dir
from harness.control_plane import NOT_BUILT, ControlPlane, control_plane
from harness.gitops.argocd import one_machine_values
from harness.k8s_tools import built
from harness.paths import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
ENVIRONMENTS = ("staging", "production")
NOT_FETCHED = "Argo CD / Prometheus Operator CRDs not fetched: run `uv run poe ci-tools`"
WAVE = "argocd.argoproj.io/sync-wave"
CLUSTER_SCOPED = {
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Namespace",
    "ValidatingWebhookConfiguration",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def bootstrap(*extra: str) -> list[dict[str, Any]]:
    """What `helm upgrade --install bosun-gitops deploy/argocd --namespace argocd` creates (docs/releasing.md)."""
    return render(DEPLOY / "argocd", *extra, release="bosun-gitops", namespace="argocd")


def roots(*extra: str) -> dict[str, dict[str, Any]]:
    """The root Application of each environment, by environment."""
    return {
        app["metadata"]["labels"]["bosun.dev/environment"]: app for app in by_kind(bootstrap(*extra), "Application")
    }


def render_application(app: dict[str, Any], *extra: str) -> list[dict[str, Any]]:
    """What Argo CD renders for a Helm Application: `helm template` with its release name, destination namespace,
    value files and values object, CRDs included unless it skips them."""
    source = app["spec"]["source"]
    args = [arg for path in value_files(app) for arg in ("-f", str(path))]
    for key, value in source["helm"].get("valuesObject", {}).items():  # over the value files, as in Argo CD
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    if not source["helm"].get("skipCrds"):
        args.append("--include-crds")
    return render(
        REPO_ROOT / source["path"],
        *args,
        *extra,
        release=source["helm"]["releaseName"],
        namespace=app["spec"]["destination"]["namespace"],
    )


def applications(environment: str, *bootstrap_args: str) -> list[dict[str, Any]]:
    """The environment's Applications (what its root renders from deploy/apps), in sync-wave order."""
    apps = render_application(roots(*bootstrap_args)[environment])
    return sorted(apps, key=lambda app: int(app["metadata"]["annotations"].get(WAVE, "0")))


def deploy_objects() -> list[dict[str, Any]]:
    """Every Argo CD object deploy/ makes: argocd-cm, the bootstrap chart's, and each environment's Applications."""
    children = [app for environment in ENVIRONMENTS for app in applications(environment)]
    return [*documents(DEPLOY / "argocd" / "argocd-cm.yaml"), *bootstrap(), *children]


def value_files(app: dict[str, Any]) -> list[Path]:
    chart = REPO_ROOT / app["spec"]["source"]["path"]
    return [(chart / name).resolve() for name in app["spec"]["source"].get("helm", {}).get("valueFiles", [])]


def release_of(environment: str, *extra: str) -> dict[str, Any]:
    """The AppRelease an environment's service Application renders."""
    service = applications(environment)[-1]
    return by_kind(render_application(service, *extra), "AppRelease")[0]


def validate_release_settings(release: dict[str, Any]) -> Settings:
    """The operator's validation of an AppRelease's settings (bosun_operator.validation), with the environment the
    operator sees when it may not read the Secrets the pod template names (its RBAC has no `get` on Secrets): each
    `secretRef` an opaque source, each `secretKeyRef` set to a value it cannot read. Raises InvalidSettings."""
    container = release["spec"]["template"]["spec"]["containers"][0]
    environment = Environment()
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            environment.opaque_sources.append(f"Secret/{source['secretRef']['name']}")
    for variable in container.get("env", []):
        environment.set(variable["name"], None if "valueFrom" in variable else variable["value"])
    return validate_settings(release["spec"]["settings"], environment)


# --- without a cluster ----------------------------------------------------------------------------------------


def test_every_file_in_deploy_is_a_chart_argocd_cm_or_values_an_application_uses() -> None:
    used = {path for env in ENVIRONMENTS for app in [roots()[env], *applications(env)] for path in value_files(app)}
    charts = [DEPLOY / "argocd", DEPLOY / "apps"]
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_dir() or any(chart in path.parents for chart in charts):
            continue
        assert path.suffix == ".yaml", f"{path}: only YAML lives in deploy/environments"
        assert path in used, f"{path}: values no Application uses"
        assert all("kind" not in doc for doc in documents(path)), f"{path}: a values file holds an object"
    assert {path.parent.name for path in used} == set(ENVIRONMENTS)


def test_the_repository_url_is_one_value() -> None:
    """Pointing Argo CD at another clone is one `--set repoURL=...`: every Application and project follows."""
    url = "git://git.internal/platform/bosun.git"
    objects = bootstrap("--set", f"repoURL={url}")
    for project in by_kind(objects, "AppProject"):
        assert project["spec"]["sourceRepos"] == [url]
    for environment in ENVIRONMENTS:
        assert roots("--set", f"repoURL={url}")[environment]["spec"]["source"]["repoURL"] == url
        for app in applications(environment, "--set", f"repoURL={url}"):
            assert app["spec"]["source"]["repoURL"] == url
            assert app["spec"]["source"]["targetRevision"] == "main"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_operator_syncs_one_wave_before_the_service(environment: str) -> None:
    operator, service = applications(environment)
    assert operator["spec"]["source"]["path"] == "charts/bosun-operator"
    assert service["spec"]["source"]["path"] == "charts/bosun"
    assert int(operator["metadata"]["annotations"][WAVE]) < int(service["metadata"]["annotations"][WAVE])
    for app in (operator, service):
        assert "ServerSideApply=true" in app["spec"]["syncPolicy"]["syncOptions"]
        assert app["spec"]["destination"]["name"] == environment
        assert all(path.is_file() for path in value_files(app))
    # The service leaves the operator (and its CRD) to the operator's Application.
    service_objects = render_application(service)
    assert not by_kind(service_objects, "CustomResourceDefinition")
    assert not by_kind(service_objects, "Deployment")
    crd = by_kind(render_application(operator), "CustomResourceDefinition")[0]
    assert crd["metadata"]["annotations"]["argocd.argoproj.io/sync-options"] == "Prune=false,Delete=false"
    # The environment's root renders its Applications from deploy/apps with the environment's apps.yaml.
    root = roots()[environment]
    assert root["spec"]["source"]["path"] == "deploy/apps"
    assert value_files(root) == [DEPLOY / "environments" / environment / "apps.yaml"]
    # The operator watches the service's namespace only.
    assert operator["spec"]["source"]["helm"]["valuesObject"]["watchNamespaces"] == ["bosun"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_project_allows_what_the_applications_render(environment: str) -> None:
    projects = {doc["metadata"]["name"]: doc["spec"] for doc in by_kind(bootstrap(), "AppProject")}
    for app in applications(environment):
        project = projects[app["spec"]["project"]]
        assert app["spec"]["source"]["repoURL"] in project["sourceRepos"]
        destination = {k: app["spec"]["destination"][k] for k in ("name", "namespace")}
        assert destination in project["destinations"]
        for obj in render_application(app):
            group = obj["apiVersion"].rpartition("/")[0]
            scope = "clusterResourceWhitelist" if obj["kind"] in CLUSTER_SCOPED else "namespaceResourceWhitelist"
            allowed = {(entry["group"], entry["kind"]) for entry in project[scope]}
            assert (group, obj["kind"]) in allowed, f"{app['metadata']['name']}: {obj['kind']} is not allowed"


def test_environments_sharing_one_cluster_never_share_an_object(tmp_path: Path) -> None:
    """The one-machine values (`poe gitops up`): both environments on one cluster, each object owned by exactly one
    Application, the CRD by staging's, every destination inside the project."""
    values = tmp_path / "one-machine.yaml"
    values.write_text(yaml.safe_dump(one_machine_values("git://10.244.0.1:9418/bosun.git")))
    projects = {doc["metadata"]["name"]: doc["spec"] for doc in by_kind(bootstrap("-f", str(values)), "AppProject")}
    owners: dict[tuple[str, str, str], str] = {}
    for environment in ENVIRONMENTS:
        for app in applications(environment, "-f", str(values)):
            destination = {k: app["spec"]["destination"][k] for k in ("name", "namespace")}
            assert destination in projects["bosun"]["destinations"]
            for obj in render_application(app):
                namespace = obj["metadata"].get(
                    "namespace", "" if obj["kind"] in CLUSTER_SCOPED else destination["namespace"]
                )
                key = (obj["kind"], namespace, obj["metadata"]["name"])
                assert key not in owners, f"{key} rendered by {owners.get(key)} and {app['metadata']['name']}"
                owners[key] = app["metadata"]["name"]
    crds = [owner for (kind, _, _), owner in owners.items() if kind == "CustomResourceDefinition"]
    assert crds == ["bosun-staging-operator"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_environment_settings_pass_the_operators_validation(environment: str) -> None:
    release = release_of(environment)
    settings = validate_release_settings(release)
    assert settings.ENVIRONMENT == environment
    assert settings.log_format == "json"
    assert release["spec"]["image"].startswith("registry.example.com/platform/bosun:")


UNSAFE_PRODUCTION_CHANGES = [
    # (setting, value, the refusal, refused in every environment rather than in production only)
    ("CORS_ORIGINS", '["http://app.example.com"]', "must use https in production", False),
    ("CORS_ORIGINS", '["https://app.example.com/app"]', "must not have a path", True),
    ("CORS_ORIGINS", "*", "must not contain '*' in production", False),
    ("DEBUG", "true", "DEBUG must be off in production", False),
    ("LOG_FORMAT", "text", "LOG_FORMAT must be json in production", False),
]


@pytest.mark.parametrize(("setting", "value", "message", "everywhere"), UNSAFE_PRODUCTION_CHANGES)
def test_an_unsafe_production_change_is_refused(
    tmp_path: Path, setting: str, value: str, message: str, everywhere: bool
) -> None:
    """One unsafe line in deploy/environments/production/settings.yaml: the release fails validation."""
    changed = yaml.safe_load((DEPLOY / "environments" / "production" / "settings.yaml").read_text())
    changed["settings"][setting] = value
    override = tmp_path / "settings.yaml"
    override.write_text(yaml.safe_dump(changed))
    release = release_of("production", "-f", str(override))
    assert release["spec"]["settings"][setting] == value
    with pytest.raises(InvalidSettings, match=message.replace("*", r"\*")):
        validate_release_settings(release)
    if not everywhere:  # the same line passes staging's rules: production really is stricter
        release["spec"]["settings"]["ENVIRONMENT"] = "staging"
        validate_release_settings(release)


def health(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    """Run the health check deploy/argocd/argocd-cm.yaml gives Argo CD for a kind, in Lua 5.1 as Argo CD does."""
    data = documents(DEPLOY / "argocd" / "argocd-cm.yaml")[0]["data"]
    lua = LuaRuntime(unpack_returned_tuples=True)
    check = lua.eval(f"function(obj)\n{data[f'resource.customizations.health.{kind}']}\nend")
    return dict(check(lua.table_from(obj, recursive=True)))


def apprelease(phase: str | None, generation: int = 2, observed: int = 2, message: str = "") -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": observed, "conditions": [{"type": "Ready", "message": message}]}
    if phase:
        status["phase"] = phase
    return {"metadata": {"generation": generation}, "status": status}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"metadata": {"generation": 1}}, {"status": "Progressing", "message": "Waiting for the operator"}),
        (apprelease("Ready"), {"status": "Healthy", "message": "Ready"}),
        (
            apprelease("Ready", generation=3),
            {"status": "Progressing", "message": "The operator has not handled generation 3 yet"},
        ),
        (apprelease("Migrating"), {"status": "Progressing", "message": "Migrating"}),
        (
            apprelease("Paused", message="spec.paused is true"),
            {"status": "Suspended", "message": "Paused: spec.paused is true"},
        ),
        (
            apprelease("MigrationFailed", message="Job bosun-migrate-1a2b3c failed: BackoffLimitExceeded"),
            {"status": "Degraded", "message": "MigrationFailed: Job bosun-migrate-1a2b3c failed: BackoffLimitExceeded"},
        ),
        (apprelease("RolloutFailed"), {"status": "Degraded", "message": "RolloutFailed"}),
        (
            apprelease("Invalid", message="CORS_ORIGINS: must use https"),
            {"status": "Degraded", "message": "Invalid: CORS_ORIGINS: must use https"},
        ),
    ],
)
def test_argocd_health_of_an_apprelease(obj: dict[str, Any], expected: dict[str, str]) -> None:
    assert health("bosun.dev_AppRelease", obj) == expected


def test_argocd_health_of_a_child_application() -> None:
    """The app-of-apps root waits on the operator's Application through this check."""
    assert health("argoproj.io_Application", {"metadata": {}}) == {"status": "Progressing", "message": ""}
    degraded = {"status": {"health": {"status": "Degraded", "message": "Deployment bosun-operator failed"}}}
    assert health("argoproj.io_Application", degraded) == {
        "status": "Degraded",
        "message": "Deployment bosun-operator failed",
    }
    synced = {"status": "Synced"}
    assert health("argoproj.io_Application", {"status": {"health": {"status": "Healthy"}, "sync": synced}}) == {
        "status": "Healthy",
        "message": "",
    }
    # Not synced yet, or a sync still running: what it has not applied yet does not count against its health.
    waiting = {"status": "Progressing", "message": "Waiting for the Application to sync"}
    not_synced = {"health": {"status": "Healthy"}, "sync": {"status": "OutOfSync"}}
    assert health("argoproj.io_Application", {"status": not_synced}) == waiting
    running = {"health": {"status": "Healthy"}, "sync": synced, "operationState": {"phase": "Running"}}
    assert health("argoproj.io_Application", {"status": running}) == waiting
    finished = {**running, "operationState": {"phase": "Succeeded"}}
    assert health("argoproj.io_Application", {"status": finished})["status"] == "Healthy"


# --- on real apiservers -----------------------------------------------------------------------------------------


def fetched(folder: Path) -> list[Path]:
    paths = crds(folder)
    if not paths:
        pytest.skip(NOT_FETCHED)
    return paths


@pytest.fixture(scope="module")
def argocd(kube: ControlPlane) -> ControlPlane:
    """The management cluster with Argo CD's CRDs and its namespace."""
    kube.install_crds(*fetched(argocd_crds_dir()))
    kube.ensure_namespace("argocd")
    return kube


@pytest.mark.k8s
def test_every_argocd_object_in_deploy_is_created(argocd: ControlPlane) -> None:
    objects = deploy_objects()
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["AppProject"] * 2 + ["Application"] * 6 + ["ConfigMap"]
    assert {obj["metadata"]["namespace"] for obj in objects} == {"argocd"}
    for obj in objects:
        result = argocd.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(obj), check=False)
        assert result.returncode == 0, f"{obj['kind']}/{obj['metadata']['name']} refused: {result.stderr}"
        stored = json.loads(result.stdout)
        field = "spec" if "spec" in obj else "data"
        assert stored[field] == obj[field], f"{obj['kind']}/{obj['metadata']['name']}: the apiserver dropped fields"


@pytest.mark.k8s
def test_argocd_schemas_are_the_real_ones(argocd: ControlPlane) -> None:
    """A mistyped field is refused: the CRDs check, they are not open stand-ins."""
    app = copy.deepcopy(applications("staging")[0])
    app["metadata"]["name"] = "mistyped"
    app["spec"]["syncPolicy"]["retry"]["limit"] = "five"
    result = argocd.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(app), check=False)
    assert result.returncode != 0
    assert "spec.syncPolicy.retry.limit" in result.stderr
    app["spec"]["syncPolicy"]["retry"]["limit"] = 5
    app["spec"]["syncPolicy"]["automated"]["selfHeel"] = True
    result = argocd.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(app), check=False)
    assert result.returncode != 0
    assert "selfHeel" in result.stderr


@pytest.fixture(scope="module", params=ENVIRONMENTS)
def environment_cluster(request: pytest.FixtureRequest) -> Iterator[tuple[str, ControlPlane]]:
    """A cluster of its own for the environment, with the Prometheus Operator's CRDs (its monitoring stack)."""
    if not built():
        pytest.skip(NOT_BUILT)
    monitoring = fetched(prometheus_operator_crds_dir())
    with control_plane() as cluster:
        cluster.install_crds(*(p for p in monitoring if "servicemonitors" in p.name or "prometheusrules" in p.name))
        yield request.param, cluster


def sync(cluster: ControlPlane, app: dict[str, Any], objects: list[dict[str, Any]]) -> None:
    """Apply one Application's objects as Argo CD does with CreateNamespace=true and ServerSideApply=true."""
    for namespace in {app["spec"]["destination"]["namespace"]} | {
        o["metadata"]["namespace"] for o in objects if "namespace" in o["metadata"]
    }:
        cluster.ensure_namespace(namespace)
    crd_objects = by_kind(objects, "CustomResourceDefinition")
    for crd in crd_objects:
        cluster.apply(json.dumps(crd))
        cluster.wait_established(crd["metadata"]["name"])
    rest = [o for o in objects if o["kind"] != "CustomResourceDefinition"]
    result = cluster.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": rest}), check=False)
    assert result.returncode == 0, f"{app['metadata']['name']}: {result.stderr}"
    # No operator pod runs here (no kubelet): its admission webhook's Service leads to a closed loopback port, as
    # kube-proxy refuses a Service without endpoints, so the webhook's failurePolicy (Ignore) decides at once.
    for configuration in by_kind(objects, "ValidatingWebhookConfiguration"):
        for webhook in configuration["webhooks"]:
            service = webhook["clientConfig"]["service"]
            route_to_loopback(cluster, service["namespace"], service["name"])


@pytest.mark.k8s
def test_each_environment_is_accepted_by_its_cluster(environment_cluster: tuple[str, ControlPlane]) -> None:
    environment, cluster = environment_cluster
    for app in applications(environment):
        objects = render_application(app)
        sync(cluster, app, objects)
        for obj in objects:
            namespace = obj["metadata"].get("namespace")
            scope = ["-n", namespace] if namespace else []
            group = obj["apiVersion"].rpartition("/")[0]
            resource = f"{obj['kind'].lower()}.{group}" if group else obj["kind"].lower()
            cluster.get_json(resource, obj["metadata"]["name"], *scope)
    release = cluster.get_json("appreleases.bosun.dev", "bosun", "-n", "bosun")
    validate_release_settings(release)
    # The operator's metrics keep the release's namespace label (the releases dashboard and alerts rely on it).
    monitor = cluster.get_json("servicemonitors.monitoring.coreos.com", "bosun-operator", "-n", "bosun-system")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True  # type: ignore[index]
    if environment == "production":
        # One unsafe line in production's settings: the cluster refuses the AppRelease too (the CRD's own rules).
        unsafe = release_of("production")
        unsafe["spec"]["settings"]["DEBUG"] = "true"
        result = cluster.apply(json.dumps(unsafe), "--dry-run=server", check=False)
        assert result.returncode != 0
        assert "DEBUG must be off when ENVIRONMENT is production" in result.stderr
