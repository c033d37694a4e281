"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}

# This runs while the previous release still serves traffic, under lock_timeout and statement_timeout, and
# `uv run poe lint-migrations` checks its SQL with squawk (README: "Writing a migration"). Only add what the
# previous release does not read; rename or drop in a later release. Worked example: a required `tasks.estimate`
# with an index, written so that no statement blocks the table for longer than a catalog update.
#
#   Release N, expand (the new code writes `estimate`, and copes with NULL):
#       op.add_column("tasks", sa.Column("estimate", sa.BigInteger(), nullable=True))
#       with op.get_context().autocommit_block():  # CONCURRENTLY cannot run inside a transaction
#           op.create_index(
#               "ix_tasks_estimate", "tasks", ["estimate"], postgresql_concurrently=True, if_not_exists=True
#           )
#
#   Release N+1, backfill then constrain (every running version writes `estimate` by now):
#       op.execute("UPDATE tasks SET estimate = 0 WHERE estimate IS NULL")  # big tables: in batches
#       op.create_check_constraint(
#           "ck_tasks_estimate_not_null", "tasks", sa.text("estimate IS NOT NULL"), postgresql_not_valid=True
#       )
#       with op.get_context().autocommit_block():  # validates in its own transaction: scans, blocks no writes
#           op.execute("ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_estimate_not_null")
#       op.alter_column("tasks", "estimate", nullable=False)  # uses the validated check: no scan
#       op.drop_constraint("ck_tasks_estimate_not_null", "tasks", type_="check")
#
# A rule this revision must break is declared here, with the reason; nothing else silences the lint:
#   squawk_ignore = {"ban-drop-column": "tasks.legacy_flag has not been read since release 1.4"}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
