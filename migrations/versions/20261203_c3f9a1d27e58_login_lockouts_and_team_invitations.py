"""login lockouts and team invitations

Revision ID: c3f9a1d27e58
Revises: 5b1e7c0d2a94
Create Date: 2026-12-03 09:31:05.215720
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3f9a1d27e58"
down_revision: str | None = "5b1e7c0d2a94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Safe while the previous release serves traffic: two new tables with their indexes, which nobody reads yet. Their
# foreign keys lock `teams` and `users` against writes (SHARE ROW EXCLUSIVE) only while the constraints are created:
# the new table is empty, so nothing is checked, and lock_timeout bounds the wait for the lock. The previous release
# never reads `login_lockouts`; while it still serves, its logins are throttled by its own rules.


def upgrade() -> None:
    op.create_table(
        "login_lockouts",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("locked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_lockouts")),
    )
    op.create_index("ix_login_lockouts_key_locked_until", "login_lockouts", ["key", "locked_until"])
    op.create_index("ix_login_lockouts_locked_until", "login_lockouts", ["locked_until"])
    op.create_table(
        "invitations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column(
            "role",
            sa.Enum("owner", "admin", "member", name="team_role", native_enum=False, create_constraint=True, length=20),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("invited_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["invited_by_id"], ["users.id"], name=op.f("fk_invitations_invited_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_invitations_team_id_teams"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
    )
    op.create_index(op.f("ix_invitations_invited_by_id"), "invitations", ["invited_by_id"])
    op.create_index("ix_invitations_team_id_created_at", "invitations", ["team_id", "created_at"])
    op.create_index(
        "uq_invitations_team_id_email_open",
        "invitations",
        ["team_id", "email"],
        unique=True,
        postgresql_where=sa.text("accepted_at IS NULL AND revoked_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_invitations_team_id_email_open", table_name="invitations")
    op.drop_index("ix_invitations_team_id_created_at", table_name="invitations")
    op.drop_index(op.f("ix_invitations_invited_by_id"), table_name="invitations")
    op.drop_table("invitations")
    op.drop_index("ix_login_lockouts_locked_until", table_name="login_lockouts")
    op.drop_index("ix_login_lockouts_key_locked_until", table_name="login_lockouts")
    op.drop_table("login_lockouts")
