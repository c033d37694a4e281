"""The Helm charts as tests see them: render with the built helm, pick objects, rule groups and dashboard queries."""

import functools
import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from harness.k8s_tools import tools_dir
from harness.paths import REPO_ROOT

CHARTS = REPO_ROOT / "charts"
BOSUN = CHARTS / "bosun"
OPERATOR = CHARTS / "bosun-operator"


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the built helm (no cluster); raises with helm's stderr when it fails and `check` is set."""
    result = subprocess.run([str(tools_dir() / "helm"), *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
    return result


@functools.cache
def build_dependencies() -> None:
    """charts/bosun takes the operator chart from ../bosun-operator (file://); helm needs it in charts/ first."""
    helm("dependency", "build", str(BOSUN))


def render(chart: Path, *args: str, release: str = "rel", namespace: str = "demo") -> list[dict[str, Any]]:
    """`helm template` of a chart: the objects it renders (CRDs only with `--include-crds`)."""
    if chart == BOSUN:
        build_dependencies()
    output = helm("template", release, str(chart), "--namespace", namespace, *args).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rule groups of every PrometheusRule, as a Prometheus rule file holds them."""
    return [group for rule in by_kind(objects, "PrometheusRule") for group in rule["spec"]["groups"]]


def dashboard_files() -> list[Path]:
    """The Grafana dashboards both charts ship."""
    return sorted(CHARTS.glob("*/files/dashboards/*.json"))


def panel_queries(path: Path) -> list[str]:
    """Every PromQL expression of every panel of a dashboard."""
    dashboard = json.loads(path.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def expand(expr: str, variables: dict[str, str]) -> str:
    """A panel query with Grafana's variables (`$job`, `$__rate_interval`, ...) replaced; every one must be given."""
    for name in sorted(variables, key=len, reverse=True):  # `$__range` before a shorter name it starts with
        expr = expr.replace(name, variables[name])
    if "$" in expr:
        raise AssertionError(f"a Grafana variable has no value: {expr}")
    return expr
