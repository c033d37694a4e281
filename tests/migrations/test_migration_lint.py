"""squawk over every revision's SQL: unsafe changes are refused with the rule named, the safe forms pass."""

import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command

from harness.api import make_settings
from harness.migration_files import add_revision, copy_migrations
from harness.migration_lint import alembic_config, lint
from harness.paths import REPO_ROOT
from harness.postgres import create_database, drop_database
from harness.squawk import NOT_BUILT, built

pytestmark = pytest.mark.skipif(not built(), reason=NOT_BUILT)

# The expand/contract example of docs/writing-a-migration.md (also in migrations/script.py.mako): three releases,
# on an existing table.
SAFE_REQUIRED_COLUMN = [
    'op.add_column("tasks", sa.Column("estimate", sa.BigInteger(), nullable=True))',
    """
    op.execute("UPDATE tasks SET estimate = 0 WHERE estimate IS NULL")
    op.create_check_constraint(
        op.f("ck_tasks_estimate_not_null"), "tasks", sa.text("estimate IS NOT NULL"), postgresql_not_valid=True
    )
    """,
    """
    op.execute("ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_estimate_not_null")
    op.alter_column("tasks", "estimate", nullable=False)
    op.drop_constraint(op.f("ck_tasks_estimate_not_null"), "tasks", type_="check")
    """,
]
SAFE_INDEX = """
    with op.get_context().autocommit_block():
        op.create_index("ix_tasks_title", "tasks", ["title"], postgresql_concurrently=True, if_not_exists=True)
"""
UNSAFE_REQUIRED_COLUMN = 'op.add_column("tasks", sa.Column("estimate", sa.BigInteger(), nullable=False))'
UNSAFE_INDEX = 'op.create_index("ix_tasks_title", "tasks", ["title"])'


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return copy_migrations(tmp_path / "migrations")


def rules(findings: list[object]) -> set[str]:
    return {getattr(finding, "rule", "") for finding in findings}


def test_existing_revisions_pass() -> None:
    assert [str(finding) for finding in lint()] == []


@pytest.mark.parametrize(
    ("upgrade", "rule"),
    [(UNSAFE_REQUIRED_COLUMN, "adding-required-field"), (UNSAFE_INDEX, "require-concurrent-index-creation")],
    ids=["not-null-column-without-default", "plain-create-index"],
)
def test_unsafe_revision_is_refused_naming_revision_and_rule(migrations: Path, upgrade: str, rule: str) -> None:
    revision = add_revision(migrations, upgrade)
    result = subprocess.run(
        [sys.executable, "-m", "harness.migration_lint", "--migrations", str(migrations)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stderr
    refused = [line for line in result.stdout.splitlines() if f"revision {revision} " in line]
    assert refused, result.stdout
    assert all(f": {rule}: " in line for line in refused), result.stdout
    assert "problem(s)" in result.stderr


def test_safe_forms_pass_and_run(migrations: Path, admin_url: str) -> None:
    for upgrade in [*SAFE_REQUIRED_COLUMN, SAFE_INDEX]:
        add_revision(migrations, upgrade)
    assert [str(finding) for finding in lint(migrations)] == []
    # ...and they really run: upgrade an empty database through them.
    url = create_database(admin_url, "bosun_safe_forms")
    try:
        command.upgrade(alembic_config(migrations, make_settings(url)), "head")
    finally:
        drop_database(admin_url, url)


def test_a_declared_exception_is_honoured(migrations: Path) -> None:
    add_revision(
        migrations, UNSAFE_REQUIRED_COLUMN, 'squawk_ignore = {"adding-required-field": "tasks is empty in this test"}'
    )
    assert [str(finding) for finding in lint(migrations)] == []


def test_only_a_declared_exception_is_honoured(migrations: Path) -> None:
    """A squawk-ignore comment in the SQL does not count; a stale or reasonless declaration is an error."""
    commented = add_revision(
        migrations, f'op.execute("-- squawk-ignore adding-required-field")\n{UNSAFE_REQUIRED_COLUMN}'
    )
    stale = add_revision(migrations, SAFE_INDEX, 'squawk_ignore = {"ban-drop-column": "nothing is dropped"}')
    reasonless = add_revision(migrations, "pass", 'squawk_ignore = {"ban-drop-table": " "}')
    findings = {(finding.revision, finding.rule) for finding in lint(migrations)}
    assert (commented, "squawk-ignore") in findings
    assert (stale, "ban-drop-column") in findings
    assert (reasonless, "squawk_ignore") in findings


def test_a_revision_that_cannot_be_rendered_offline_is_refused(migrations: Path) -> None:
    """The lint only sees SQL rendered with --sql: a revision that reads query results cannot be checked."""
    revision = add_revision(migrations, 'op.get_bind().execute(sa.text("SELECT 1")).scalar_one()')
    assert [(finding.revision, finding.rule) for finding in lint(migrations)] == [(revision, "offline-render")]
