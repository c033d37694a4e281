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

# This runs while the previous release still serves traffic, under lock_timeout and statement_timeout, in one
# transaction with the other revisions of the same `bosun migrate`; `uv run poe lint-migrations` checks its SQL with
# squawk (docs/writing-a-migration.md). Only add what the previous release does not read; rename or drop in a later
# release. Worked example: a required, indexed `tasks.estimate` on a busy table, over three releases, so that no
# statement holds a lock that blocks the table for longer than a catalog update.
#
#   Release N, expand (its code writes `estimate` and copes with NULL):
#       op.add_column("tasks", sa.Column("estimate", sa.BigInteger(), nullable=True))
#       with op.get_context().autocommit_block():  # CONCURRENTLY cannot run in a transaction
#           op.create_index(
#               "ix_tasks_estimate", "tasks", ["estimate"], postgresql_concurrently=True, if_not_exists=True
#           )
#
#   Release N+1, backfill (no running version writes NULL any more) and constrain new rows without a scan:
#       op.execute("UPDATE tasks SET estimate = 0 WHERE estimate IS NULL")  # big tables: in batches
#       op.create_check_constraint(
#           op.f("ck_tasks_estimate_not_null"), "tasks", sa.text("estimate IS NOT NULL"), postgresql_not_valid=True
#       )
#
#   Release N+2, validate (scans, but blocks no writes), then SET NOT NULL uses the valid check instead of a scan:
#       op.execute("ALTER TABLE tasks VALIDATE CONSTRAINT ck_tasks_estimate_not_null")
#       op.alter_column("tasks", "estimate", nullable=False)
#       op.drop_constraint(op.f("ck_tasks_estimate_not_null"), "tasks", type_="check")
#
# (Validating in the release that adds the NOT VALID check would hold that ALTER's ACCESS EXCLUSIVE lock during the
# scan: both would run in one transaction.) A rule this revision must break is declared here, with the reason;
# nothing else silences the lint:
#   squawk_ignore = {"ban-drop-column": "tasks.legacy_flag has not been read since release 1.4"}

def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
