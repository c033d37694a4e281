"""The reference pages are what the code says: regenerated, they equal what is committed (else CI fails)."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from app.core import config
from app.core.config import Settings
from harness.docs import crd_reference, reference, settings_reference, values_reference
from harness.docs.reference import DOCS, PAGES


@pytest.mark.parametrize("name", sorted(PAGES))
def test_committed_page_is_what_the_code_generates(name: str) -> None:
    committed = (DOCS / name).read_text()
    assert committed == PAGES[name](), f"docs/{name} differs from the code: run `uv run poe docs-reference`"


def test_the_check_names_a_stale_page(tmp_path: Path) -> None:
    for name, render in PAGES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(render())
    assert reference.stale_pages(tmp_path) == []
    (tmp_path / "reference/helm-values.md").write_text("edited by hand\n")
    (tmp_path / "reference/apprelease.md").unlink()
    assert reference.stale_pages(tmp_path) == ["reference/apprelease.md", "reference/helm-values.md"]


# A setting, a CRD field or a chart value added without regenerating changes the page, so the drift test fails.


def test_a_new_setting_changes_the_page() -> None:
    class WithNewSetting(Settings):
        EXPORT_BATCH_SIZE: int = Field(default=500, ge=1, le=10_000, description="Rows per export batch.")

    page = settings_reference.settings_page(WithNewSetting)
    assert page != (DOCS / "reference/configuration.md").read_text()
    assert "| `EXPORT_BATCH_SIZE` | integer | `500` | ≥ 1, ≤ 10,000 | Rows per export batch. |" in page


def test_a_new_production_rule_changes_the_page() -> None:
    source = Path(config.__file__).read_text()
    rule = '        if self.DEBUG:\n            raise ValueError("DEBUG must be off in production")\n'
    assert rule in source
    extra = '        if self.SMTP_HOST is None:\n            raise ValueError("SMTP_HOST must be set in production")\n'
    page = settings_reference.settings_page(source=source.replace(rule, rule + extra))
    production = page.split("## What production adds")[1]
    assert "- DEBUG must be off in production\n- SMTP_HOST must be set in production\n" in production


def _crd() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(crd_reference.CRD.read_text())
    return loaded


def test_a_new_crd_field_changes_the_page() -> None:
    crd = _crd()
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    spec["properties"]["canary"] = {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "default": 0,
        "description": "Percent of traffic for the new image.",
        "x-kubernetes-validations": [{"rule": "self <= 50", "message": "a canary takes at most half"}],
    }
    page = crd_reference.apprelease_page(crd, crd_reference.plan_source())
    assert page != (DOCS / "reference/apprelease.md").read_text()
    row = (
        "| `spec.canary` | integer | `0` | minimum `0`; maximum `100`; a canary takes at most half"
        " | Percent of traffic for the new image. |"
    )
    assert row in page


def test_conditions_and_events_come_from_the_reconciler() -> None:
    source = (
        "def decide(step):\n"
        '    step.conditions["Migrated"] = Condition("True", "JobComplete", "done")\n'
        '    step.conditions["Valid"] = Condition("False", "InvalidSettings", problem)\n'
        '    step.conditions["RolledOut"] = Condition("False", reason, message)\n'
        '    step.actions.append(PostEvent("Warning", "RolloutFailed", message))\n'
    )
    assert crd_reference.condition_reasons(source) == [
        ["`Valid`", "`False`", "`InvalidSettings`"],
        ["`Migrated`", "`True`", "`JobComplete`"],
        ["`RolledOut`", "`False`", "Kubernetes' own (see `status.conditions[].reason`)"],
    ]
    assert crd_reference.events(source) == [["`RolloutFailed`", "Warning"]]


def _charts() -> dict[str, tuple[str, dict[str, Any]]]:
    return {
        name: (
            (values_reference.ROOT / "charts" / name / "values.yaml").read_text(),
            json.loads((values_reference.ROOT / "charts" / name / "values.schema.json").read_text()),
        )
        for name in values_reference.CHARTS
    }


def test_a_new_chart_value_changes_the_page() -> None:
    charts = _charts()
    text, schema = charts["bosun-operator"]
    text += "\n# Seconds between two full resyncs of every release.\nresyncSeconds: 15\n"
    schema["properties"]["resyncSeconds"] = {"type": "integer", "minimum": 5}
    charts["bosun-operator"] = (text, schema)
    page = values_reference.values_page(charts)
    assert page != (DOCS / "reference/helm-values.md").read_text()
    assert "| `resyncSeconds` | integer | `15` | ≥ 5 | Seconds between two full resyncs of every release. |" in page


@pytest.mark.parametrize(
    ("values", "key_line", "comment"),
    [
        ("# The image.\nimage: x\n", 1, "The image."),
        ("# One\n# two.\nimage: x\n", 2, "One two."),
        ("hosts: []\n#  - host: example.com\n#    paths: [/]\ntls: []\n", 3, ""),  # an example, not tls's comment
        ("a:\n  # Inner.\n  b: 1\n# Outer.\nc: 2\n", 2, "Inner."),
        ("a:\n  # Inner.\n  b: 1\nc: 2\n", 3, ""),  # a nested comment is not the next key's
    ],
)
def test_the_comment_above_a_key(values: str, key_line: int, comment: str) -> None:
    assert values_reference.comments_above(values.splitlines(), key_line) == comment


@pytest.mark.parametrize(
    ("field", "allowed"),
    [
        ("DB_POOL_SIZE", "≥ 1, ≤ 100"),
        ("DB_POOL_TIMEOUT", "> 0, ≤ 120"),
        ("ENVIRONMENT", "`development`, `test`, `staging`, `production`"),
        ("LOG_FORMAT", "`text`, `json`"),
        ("WEB_APP_URL", "at most 2,000 characters"),
        ("SMTP_HOST", ""),
    ],
)
def test_allowed_values_come_from_the_field(field: str, allowed: str) -> None:
    assert settings_reference.allowed_text(Settings.model_fields[field]) == allowed


def test_every_setting_has_a_description() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []
