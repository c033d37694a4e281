"""login failures table and users.token_version

Revision ID: 5b1e7c0d2a94
Revises: ea6439ffcd73
Create Date: 2026-11-27 04:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b1e7c0d2a94"
down_revision: str | None = "ea6439ffcd73"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Safe while the previous release serves traffic: a new table with its indexes (nobody else uses it yet), and a
# column whose constant default PostgreSQL records in the catalog without rewriting `users`.


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index("ix_login_failures_key_failed_at", "login_failures", ["key", "failed_at"])
    op.create_index("ix_login_failures_failed_at", "login_failures", ["failed_at"])
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    op.drop_column("users", "token_version")
    op.drop_index("ix_login_failures_failed_at", table_name="login_failures")
    op.drop_index("ix_login_failures_key_failed_at", table_name="login_failures")
    op.drop_table("login_failures")
