"""Scratch copies of the migrations folder, for tests that add revisions (never into migrations/versions)."""

import shutil
import textwrap
import uuid
from pathlib import Path

from alembic.script import ScriptDirectory

from harness.migration_lint import MIGRATIONS


def copy_migrations(destination: Path) -> Path:
    """A copy of migrations/ (env.py, template, revisions) at `destination`."""
    shutil.copytree(MIGRATIONS, destination, ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def add_revision(migrations: Path, upgrade: str, module: str = "") -> str:
    """Write a revision on top of the folder's head: `upgrade` is the body of upgrade(), `module` extra
    module-level code (e.g. a `squawk_ignore` declaration). Returns its revision id."""
    script = ScriptDirectory(str(migrations))
    head = script.get_current_head()
    revision = uuid.uuid4().hex[:12]
    text = f'''"""test revision {revision}"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {head!r}
branch_labels = None
depends_on = None
{textwrap.dedent(module)}

def upgrade() -> None:
{textwrap.indent(textwrap.dedent(upgrade).strip(), "    ")}


def downgrade() -> None:
    pass
'''
    (migrations / "versions" / f"29990101_{revision}_test.py").write_text(text)
    return revision
