"""Each fact about releases is defined once in the operator; the CRD, the dashboard, the alerts and their tests use
the same values (a phase or result label that nothing produces fails here)."""

import re
from pathlib import Path

import yaml
from bosun_operator.metrics import FINISH_RESULTS, RECONCILE_RESULTS
from bosun_operator.resources import (
    DEFAULT_MIGRATION_BACKOFF_LIMIT,
    DEFAULT_MIGRATION_COMMAND,
    DEFAULT_MIGRATION_TIMEOUT_SECONDS,
)
from bosun_operator.status import CONDITION_TYPES, PHASES

from harness.paths import REPO_ROOT

CHART = REPO_ROOT / "charts" / "bosun-operator"
CRD = CHART / "crds" / "appreleases.bosun.dev.yaml"
USERS = [
    CHART / "files" / "dashboards" / "releases.json",
    CHART / "templates" / "prometheusrule.yaml",
    REPO_ROOT / "tests" / "charts" / "rules" / "bosun-operator.test.yaml",
]
_PHASE = re.compile(r'phase(?:=|!=|=~|!~)\\?"([^"\\]+)\\?"|phase: (\w+)')
_RESULT = re.compile(
    r'(reconciliations|migrations|migration_duration|rollouts|rollout_duration)\w*\{[^}]*result=\\?"(\w+)'
)


def schema() -> dict[str, object]:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    properties: dict[str, object] = version["schema"]["openAPIV3Schema"]["properties"]
    return properties


def test_the_crd_enums_are_the_operators() -> None:
    status = schema()["status"]["properties"]  # type: ignore[index]
    assert tuple(status["phase"]["enum"]) == PHASES
    assert tuple(status["conditions"]["items"]["properties"]["type"]["enum"]) == CONDITION_TYPES


def test_the_crd_migration_defaults_are_the_operators() -> None:
    migration = schema()["spec"]["properties"]["migration"]["properties"]  # type: ignore[index]
    assert tuple(migration["command"]["default"]) == DEFAULT_MIGRATION_COMMAND
    assert migration["timeoutSeconds"]["default"] == DEFAULT_MIGRATION_TIMEOUT_SECONDS
    assert migration["backoffLimit"]["default"] == DEFAULT_MIGRATION_BACKOFF_LIMIT


def named(path: Path) -> tuple[set[str], dict[str, set[str]]]:
    text = path.read_text()
    phases = {name for match in _PHASE.finditer(text) for group in match.groups() if group for name in group.split("|")}
    results: dict[str, set[str]] = {}
    for metric, result in _RESULT.findall(text):
        results.setdefault(metric, set()).add(result)
    return phases, results


def test_dashboards_and_alerts_name_only_what_the_operator_produces() -> None:
    seen_phases: set[str] = set()
    for path in USERS:
        phases, results = named(path)
        assert phases <= set(PHASES), (path.name, phases - set(PHASES))
        seen_phases |= phases
        for metric, values in results.items():
            allowed = RECONCILE_RESULTS if metric == "reconciliations" else FINISH_RESULTS
            assert values <= set(allowed), (path.name, metric, values - set(allowed))
    assert {"Ready", "Invalid", "MigrationFailed", "RolloutFailed", "Migrating", "RollingOut"} <= seen_phases
