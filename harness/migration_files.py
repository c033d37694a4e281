"""Scratch copies of the migrations folder, for tests that add revisions (never into migrations/versions)."""

import shutil
import uuid
from pathlib import Path

from alembic.script import ScriptDirectory

from app.core.migrations import MIGRATIONS_DIR
from harness.releases import revision


def copy_migrations(destination: Path) -> Path:
    """A copy of migrations/ (env.py, template, revisions) at `destination`."""
    shutil.copytree(MIGRATIONS_DIR, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def add_revision(migrations: Path, upgrade: str, module: str = "") -> str:
    """Write a revision on top of the folder's head (see `revision` for the arguments); returns its id."""
    head = ScriptDirectory(str(migrations)).get_current_head()
    assert head is not None, f"{migrations} has no revisions"
    revision_id = uuid.uuid4().hex[:12]
    text = revision(head, revision_id, upgrade, module)
    (migrations / "versions" / f"29990101_{revision_id}_test.py").write_text(text)
    return revision_id
