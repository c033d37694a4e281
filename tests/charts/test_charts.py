"""The Helm charts: lint, render, schema, install into a real apiserver, Pod Security, dashboards and alerts."""

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.charts import (
    BOSUN,
    OPERATOR,
    build_dependencies,
    by_kind,
    dashboard_files,
    expand,
    helm,
    panel_queries,
    rule_groups,
)
from harness.charts import render as render_chart
from harness.ci_tools import crds, prometheus_operator_crds_dir, tool
from harness.cluster import install_crd
from harness.control_plane import ControlPlane
from harness.gunicorn import gunicorn_server
from harness.k8s_tools import built
from harness.operator import operator_process
from harness.prometheus import NOT_BUILT as PROMTOOL_NOT_BUILT

VALUES = {
    "default": [],
    "minimal": ["-f", str(BOSUN / "ci" / "minimal-values.yaml")],
    "production": ["-f", str(BOSUN / "ci" / "production-values.yaml")],
}
# No operator pod runs here (no kubelet) to serve the admission webhook, and its Service's ClusterIP leads nowhere:
# installs that create AppReleases leave the webhook out (tests/operator/test_admission.py installs and calls it).
NO_WEBHOOK = ["--set", "bosun-operator.admission.enabled=false"]
# Metrics that alerts use but that come from Prometheus itself or kube-state-metrics, not from the app.
EXTERNAL_METRICS = {"up", "kube_pod_status_ready", "kube_pod_labels"}
# Any value of the right shape for each Grafana variable the dashboards use.
SAMPLE_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$namespace": "bosun",
    "$job": "bosun-metrics",
    "$release": "bosun",
}


@pytest.fixture(scope="module", autouse=True)
def helm_built() -> None:
    if not built():
        pytest.skip("kubernetes binaries not built: run `uv run poe k8s-tools`")
    build_dependencies()


def render(values: list[str], *extra: str, namespace: str = "demo") -> list[dict[str, Any]]:
    return render_chart(BOSUN, *values, *extra, namespace=namespace)


@pytest.mark.parametrize("chart", [BOSUN, OPERATOR], ids=["bosun", "bosun-operator"])
@pytest.mark.parametrize("values", list(VALUES), ids=list(VALUES))
def test_lint_strict(chart: Path, values: str) -> None:
    extra = VALUES[values] if chart == BOSUN else []
    result = helm("lint", "--strict", str(chart), *extra)
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("values", list(VALUES), ids=list(VALUES))
def test_every_object_has_the_standard_labels(values: str) -> None:
    for obj in render(VALUES[values]):
        labels = obj["metadata"].get("labels", {})
        if obj["kind"] == "CustomResourceDefinition":
            continue
        for key in (
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/version",
            "app.kubernetes.io/managed-by",
            "helm.sh/chart",
        ):
            assert key in labels, f"{obj['kind']}/{obj['metadata']['name']} lacks {key}"


def test_default_render() -> None:
    objects = render(VALUES["default"])
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == sorted(
        [
            "AppRelease",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Secret",
            "Service",
            "ServiceAccount",
            "ValidatingWebhookConfiguration",
        ]
    )
    release = by_kind(objects, "AppRelease")[0]
    spec = release["spec"]
    assert spec["image"] == "bosun:0.1.0"
    assert spec["replicas"] == 2
    assert spec["settings"]["ENVIRONMENT"] == "production"
    assert spec["settings"]["PORT"] == "8000"
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert "image" not in container  # the operator sets it after the migration
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"][0]["emptyDir"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }
    env_from = {next(iter(source)) for source in container["envFrom"]}
    assert env_from == {"configMapRef", "secretRef"}
    secret = by_kind(objects, "Secret")[0]
    assert set(secret["data"]) == {"SECRET_KEY"}
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    assert services["rel-bosun"]["spec"]["ports"][0]["targetPort"] == "http"
    assert services["rel-bosun-metrics"]["spec"]["ports"][0]["port"] == 9100
    sa = next(s for s in by_kind(objects, "ServiceAccount") if s["metadata"]["name"] == "rel-bosun")
    assert sa["automountServiceAccountToken"] is False
    dashboards = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(dashboards) == 3  # service overview and database (this chart), releases (the operator chart)


def test_production_render() -> None:
    objects = render(VALUES["production"])
    release = by_kind(objects, "AppRelease")[0]
    assert "replicas" not in release["spec"]  # the HPA owns the replica count
    hpa = by_kind(objects, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "rel-bosun"}
    assert by_kind(objects, "Secret") == []  # existingSecret
    assert by_kind(objects, "Ingress")[0]["spec"]["tls"][0]["secretName"] == "bosun-tls"
    assert len(by_kind(objects, "ServiceMonitor")) == 2  # the service and the operator
    assert len(by_kind(objects, "PrometheusRule")) == 2


def test_minimal_render_has_no_operator() -> None:
    objects = render(VALUES["minimal"])
    assert not by_kind(objects, "Deployment")
    assert not by_kind(objects, "ClusterRole")


def test_operator_rbac_is_least_privilege() -> None:
    objects = render(VALUES["default"])
    role = by_kind(objects, "ClusterRole")[0]
    granted = {
        (g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]
    }
    assert not [rule for rule in role["rules"] if "*" in rule["verbs"] or "*" in rule["resources"]]
    assert ("", "secrets", "get") not in granted
    assert ("bosun.dev", "appreleases/status", "patch") in granted
    assert ("batch", "jobs", "create") in granted
    assert ("apps", "deployments", "delete") not in granted
    reader = render(VALUES["default"], "--set", "bosun-operator.rbac.readSecrets=true")
    assert {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]} in by_kind(reader, "ClusterRole")[0]["rules"]
    scoped = render(VALUES["default"], "--set", "bosun-operator.watchNamespaces={team-a,team-b}")
    assert {r["metadata"]["namespace"] for r in by_kind(scoped, "Role")} == {"team-a", "team-b"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "replicaCount=many"], "replicaCount"),
        (["--set", "unknownKey=1"], "unknownKey"),
        (["--set", "image.tagg=1"], "tagg"),
        (["--set", "settings.log_level=INFO"], "log_level"),
        (["--set", "settings.SECRET_KEY=abc"], "settings"),
        (["--set", "settings.ENVIRONMENT=prod"], "ENVIRONMENT"),
        (["--set", "secrets.databaseUrl=mysql://x"], "databaseUrl"),
        (["--set", "service.port=0"], "port"),
        (["--set", "bosun-operator.replicaCount=2"], "replicaCount"),
        (["--set", "loadtest.users=0"], "users"),
        (["--set", "loadtest.runTime=forever"], "runTime"),
        (["--set", "loadtest.extraArgs={rm -rf}"], "extraArgs"),
    ],
)
def test_values_schema_refuses(args: list[str], message: str) -> None:
    result = helm("template", "rel", str(BOSUN), *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr


def test_loadtest_job_is_an_opt_in_helm_test() -> None:
    assert not by_kind(render(VALUES["default"]), "Job")
    objects = render(
        VALUES["production"], "--set", "loadtest.enabled=true", "--set", "loadtest.extraArgs={--seeded-users=10}"
    )
    job = by_kind(objects, "Job")[0]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "test"  # runs on `helm test`, never on install
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    assert container["image"] == "registry.example.com/platform/bosun-loadtest:1.4.2"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for arg in (
        "--headless",
        "--host=http://rel-bosun.demo.svc:80",
        "--metrics-url=http://rel-bosun-metrics-pods.demo.svc:9100/metrics",
        "--seeded-users=10",
    ):
        assert arg in container["args"]
    pods = next(s for s in by_kind(objects, "Service") if s["metadata"]["name"] == "rel-bosun-metrics-pods")
    assert pods["spec"]["clusterIP"] == "None"  # its DNS name lists every pod
    assert pods["metadata"]["labels"]["app.kubernetes.io/component"] != "metrics"  # the ServiceMonitor skips it
    # The production NetworkPolicy lets the Job's pods reach both ports.
    policy = by_kind(objects, "NetworkPolicy")[0]
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule.get("from", [])]
    loadtest = [
        p
        for p in peers
        if p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "loadtest"
    ]
    assert len(loadtest) == 2
    # No Service of the release selects the load test's own pod (it would scrape itself as a service pod).
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    for service in by_kind(objects, "Service"):
        selector = service["spec"]["selector"]
        assert not all(pod_labels.get(k) == v for k, v in selector.items()), service["metadata"]["name"]
    assert all(pod_labels.get(k) == v for k, v in loadtest[0]["podSelector"]["matchLabels"].items())


def test_dashboards_are_valid_grafana_json() -> None:
    uids = set()
    for path in dashboard_files():
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"].startswith("bosun-")
        uids.add(dashboard["uid"])
        assert dashboard["title"]
        assert isinstance(dashboard["schemaVersion"], int)
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in dashboard["panels"]:
            assert {"x", "y", "w", "h"} <= panel["gridPos"].keys()
            assert panel["targets"]
            assert all(t["expr"] and t["refId"] for t in panel["targets"])
        variables = {v["name"] for v in dashboard["templating"]["list"]}
        assert {"datasource", "namespace", "job"} <= variables
    assert uids == {"bosun-overview", "bosun-database", "bosun-releases"}


def test_every_panel_query_is_valid_promql() -> None:
    """promtool parses each panel query (Grafana's variables filled with sample values)."""
    promtool = tool("promtool")
    if promtool is None:
        pytest.skip(PROMTOOL_NOT_BUILT)
    queries = [expand(expr, SAMPLE_VARIABLES) for path in dashboard_files() for expr in panel_queries(path)]
    assert len(queries) >= 30
    for query in queries:
        result = subprocess.run(
            [str(promtool), "--experimental", "promql", "format", query], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"invalid PromQL: {query}\n{result.stderr}"
    refused = subprocess.run(
        [str(promtool), "--experimental", "promql", "format", "sum(rate(x[5m])"], capture_output=True, text=True
    )
    assert refused.returncode != 0


def _metric_names(expressions: list[str]) -> set[str]:
    names = set()
    for expr in expressions:
        names |= set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", expr))
    return names


def _exported(scrape: str) -> set[str]:
    names = set()
    for line in scrape.splitlines():
        match = re.match(r"# TYPE (\S+) (\S+)", line)
        if match:
            name, kind = match.groups()
            names.add(name)
            if kind == "histogram":
                names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
            if kind == "counter" and not name.endswith("_total"):
                names.add(f"{name}_total")
    return names


@pytest.mark.k8s
@pytest.mark.usefixtures("clean_database")
def test_dashboards_and_alerts_use_only_exported_metrics(
    database_url: str, kube: ControlPlane, namespace: str, tmp_path: Path
) -> None:
    expressions = [expr for path in dashboard_files() for expr in panel_queries(path)]
    groups = rule_groups(render(VALUES["production"]))
    assert {group["name"] for group in groups} == {"bosun.rules", "bosun-operator.releases", "bosun-operator.operator"}
    expressions += [rule["expr"] for group in groups for rule in group["rules"]]
    used = _metric_names(expressions)
    assert "http_request_db_queries_sum" in used  # the N+1 panel and alert
    assert "bosun_operator_release_phase" in used  # the releases dashboard and alerts

    with gunicorn_server(database_url, tmp_path) as server:
        httpx.get(f"{server.api}/api/v1/users/me")  # a 401 that still runs the middleware
        httpx.post(f"{server.api}/api/v1/auth/signup", json={"email": "m@example.com", "password": "metrics-pass"})
        scrape = httpx.get(server.metrics).text
    install_crd(kube)
    with operator_process(kube, [namespace]) as operator:  # the real `bosun-operator`
        operator_scrape = httpx.get(operator.metrics_url).text
    exported = _exported(scrape) | _exported(operator_scrape)
    missing = used - exported - EXTERNAL_METRICS
    assert missing == set(), f"dashboards or alerts use metrics the app or the operator does not export: {missing}"


# --- on the real apiserver ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def monitoring_crds(kube: ControlPlane) -> None:
    """The Prometheus Operator's real ServiceMonitor and PrometheusRule CRDs."""
    paths = [
        p
        for p in crds(prometheus_operator_crds_dir())
        if p.name.endswith(("_servicemonitors.yaml", "_prometheusrules.yaml"))
    ]
    if len(paths) != 2:
        pytest.skip("Prometheus Operator CRDs not fetched: run `uv run poe ci-tools`")
    kube.install_crds(*paths)


def installed_objects(kube: ControlPlane, release: str, namespace: str) -> Iterator[dict[str, Any]]:
    manifest = kube.helm("get", "manifest", release, "-n", namespace).stdout
    yield from (doc for doc in yaml.safe_load_all(manifest) if doc)


@pytest.mark.k8s
@pytest.mark.parametrize("values", ["default", "production"])
@pytest.mark.usefixtures("monitoring_crds")
def test_helm_install_is_accepted(kube: ControlPlane, values: str) -> None:
    namespace = kube.create_namespace("chart")
    release = f"r{values[:4]}"
    extra = ["--set", f"bosun-operator.watchNamespaces={{{namespace}}}"] if values == "production" else []
    kube.helm("install", release, str(BOSUN), "-n", namespace, *VALUES[values], *extra, *NO_WEBHOOK)
    status = json.loads(kube.helm("status", release, "-n", namespace, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    objects = list(installed_objects(kube, release, namespace))
    assert objects
    for obj in objects:
        ns = obj["metadata"].get("namespace", namespace)
        kind = obj["kind"]
        scope = [] if kind in ("ClusterRole", "ClusterRoleBinding") else ["-n", ns]
        stored = kube.get_json(
            kind.lower() if kind != "AppRelease" else "appreleases.bosun.dev", obj["metadata"]["name"], *scope
        )
        assert stored["metadata"]["name"] == obj["metadata"]["name"]  # type: ignore[index]
    crd = kube.get_json("crd", "appreleases.bosun.dev")
    assert crd["spec"]["names"]["kind"] == "AppRelease"  # type: ignore[index]
    # An upgrade keeps the generated SECRET_KEY.
    if values == "default":
        before = kube.get_json("secret", f"{release}-bosun-secrets", "-n", namespace)["data"]
        kube.helm("upgrade", release, str(BOSUN), "-n", namespace, "--set", "replicaCount=3")
        after = kube.get_json("secret", f"{release}-bosun-secrets", "-n", namespace)["data"]
        assert after == before


@pytest.mark.k8s
@pytest.mark.usefixtures("monitoring_crds")
def test_monitoring_objects_meet_the_real_schemas(kube: ControlPlane, namespace: str) -> None:
    """The Prometheus Operator's CRDs check fields and formats: a typo or a bad duration is refused."""
    objects = render(VALUES["production"], namespace=namespace)
    monitors = by_kind(objects, "ServiceMonitor")
    rules = by_kind(objects, "PrometheusRule")

    def create(document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        return kube.kubectl("create", "--dry-run=server", "-f", "-", input=json.dumps(document), check=False)

    for document in monitors + rules:
        accepted = create(document)
        assert accepted.returncode == 0, accepted.stderr
    monitors[0]["spec"]["endpoints"][0]["intervall"] = "30s"
    refused = create(monitors[0])
    assert refused.returncode != 0
    assert 'unknown field "spec.endpoints[0].intervall"' in refused.stderr
    rules[0]["spec"]["groups"][0]["rules"][0]["for"] = "five minutes"
    refused = create(rules[0])
    assert refused.returncode != 0
    assert "spec.groups[0].rules[0].for" in refused.stderr


@pytest.mark.k8s
def test_pod_template_passes_the_restricted_pod_security_level(kube: ControlPlane) -> None:
    labels = {
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    namespace = kube.create_namespace("restricted", labels)
    kube.helm(
        "install", "psa", str(BOSUN), "-n", namespace, "--set", f"bosun-operator.watchNamespaces={{{namespace}}}",
        *NO_WEBHOOK,
    )  # fmt: skip
    release = kube.get_json("apprelease", "psa-bosun", "-n", namespace)
    template = release["spec"]["template"]  # type: ignore[index]
    operator = kube.get_json("deployment", "psa-bosun-operator", "-n", namespace)["spec"]["template"]  # type: ignore[index]
    loadtest = by_kind(render([], "--set", "loadtest.enabled=true", namespace=namespace), "Job")[0]["spec"]["template"]

    def pod(name: str, pod_template: dict[str, Any], image: str) -> dict[str, Any]:
        spec = json.loads(json.dumps(pod_template["spec"]))
        for container in spec["containers"]:
            container.setdefault("image", image)
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": pod_template["metadata"]["labels"]},
            "spec": spec,
        }

    # The load-test Job runs as the namespace's `default` account, which the service-account controller would make.
    kube.apply(f"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: {namespace}\n")
    for name, pod_template in (("service", template), ("operator", operator), ("loadtest", loadtest)):
        document = pod(name, pod_template, "bosun:0.1.0")
        result = kube.kubectl(
            "create", "-n", namespace, "--dry-run=server", "-f", "-", input=json.dumps(document), check=False
        )
        assert result.returncode == 0, f"{name} pod refused: {result.stderr}"
        assert "Warning" not in result.stderr

    # The namespace really enforces: a pod that may escalate is refused.
    risky = pod("risky", template, "bosun:0.1.0")
    risky["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = kube.kubectl(
        "create", "-n", namespace, "--dry-run=server", "-f", "-", input=json.dumps(risky), check=False
    )
    assert refused.returncode != 0
    assert "violates PodSecurity" in refused.stderr
