"""The charts' alert rules checked by promtool: every rendered rule group is valid, every alert has unit tests."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.charts import BOSUN, OPERATOR, render, rule_groups
from harness.ci_tools import tool
from harness.k8s_tools import built
from harness.paths import REPO_ROOT
from harness.prometheus import NOT_BUILT

UNIT_TESTS = Path(__file__).parent / "rules"
DEPLOY = REPO_ROOT / "deploy" / "environments"
ENABLED = ["--set", "metrics.prometheusRule.enabled=true"]
# What the unit tests render: release, namespace and values (the chart defaults, alerts on).
UNDER_TEST = {
    "bosun": (BOSUN, "bosun", "bosun", ENABLED),
    "bosun-operator": (OPERATOR, "bosun-operator", "bosun-system", ENABLED),
}
# Every configuration whose rules must load: the defaults, the charts' CI values and each environment.
CONFIGURATIONS = {
    "bosun-defaults": (BOSUN, ENABLED),
    "bosun-ci-production": (BOSUN, ["-f", str(BOSUN / "ci" / "production-values.yaml")]),
    "operator-defaults": (OPERATOR, ENABLED),
    **{
        f"{env}-{name}": (chart, [arg for f in files for arg in ("-f", str(DEPLOY / env / f))])
        for env in ("staging", "production")
        for name, chart, files in (
            ("bosun", BOSUN, ["values.yaml", "settings.yaml"]),
            ("operator", OPERATOR, ["operator-values.yaml"]),
        )
    },
}


@pytest.fixture(scope="module")
def promtool() -> Path:
    if not built():
        pytest.skip("kubernetes binaries not built: run `uv run poe k8s-tools`")
    path = tool("promtool")
    if path is None:
        pytest.skip(NOT_BUILT)
    return path


def write_rules(path: Path, groups: list[dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def run(promtool: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(promtool), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("configuration", list(CONFIGURATIONS))
def test_promtool_check_rules(promtool: Path, tmp_path: Path, configuration: str) -> None:
    chart, values = CONFIGURATIONS[configuration]
    groups = rule_groups(render(chart, *values))
    assert groups, f"{configuration} renders no PrometheusRule"
    result = run(promtool, "check", "rules", str(write_rules(tmp_path / "rules.yaml", groups)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def alert_cases(unit_tests: Path) -> dict[str, dict[str, int]]:
    """Per alert name: how many evaluations expect it firing and how many expect it silent."""
    cases: dict[str, dict[str, int]] = {}
    for test in yaml.safe_load(unit_tests.read_text())["tests"]:
        for check in test.get("alert_rule_test", []):
            counts = cases.setdefault(check["alertname"], {"fires": 0, "silent": 0})
            counts["fires" if check.get("exp_alerts") else "silent"] += 1
    return cases


@pytest.mark.parametrize("chart", list(UNDER_TEST))
def test_every_alert_has_unit_tests_that_pass(promtool: Path, tmp_path: Path, chart: str) -> None:
    path, release, namespace, values = UNDER_TEST[chart]
    groups = rule_groups(render(path, *values, release=release, namespace=namespace))
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    unit_tests = UNIT_TESTS / f"{chart}.test.yaml"
    cases = alert_cases(unit_tests)
    assert set(cases) == alerts, "unit tests and alerts differ"
    for alert, counts in cases.items():
        assert counts["fires"] and counts["silent"], f"{alert} needs a firing and a silent case: {counts}"
        firing = [
            expected
            for test in yaml.safe_load(unit_tests.read_text())["tests"]
            for check in test.get("alert_rule_test", [])
            if check["alertname"] == alert
            for expected in check.get("exp_alerts") or []
        ]
        assert all(e.get("exp_labels", {}).get("severity") and e.get("exp_annotations") for e in firing), alert

    write_rules(tmp_path / f"{chart}.rules.yaml", groups)
    shutil.copyfile(unit_tests, tmp_path / unit_tests.name)
    result = run(promtool, "test", "rules", str(tmp_path / unit_tests.name))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_rule_is_refused(promtool: Path, tmp_path: Path) -> None:
    """promtool really checks: a rule with an invalid expression fails."""
    broken = [{"name": "broken", "rules": [{"alert": "Broken", "expr": "sum(rate(http_requests_total[5m])"}]}]
    result = run(promtool, "check", "rules", str(write_rules(tmp_path / "broken.yaml", broken)))
    assert result.returncode != 0
    assert "parse error" in result.stdout + result.stderr
