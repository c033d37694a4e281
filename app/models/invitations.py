"""Team invitations by email: the table and its API shapes."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field as PydanticField
from sqlalchemy import DateTime, Index, text
from sqlmodel import Field, Relationship, SQLModel

from app.models.common import InputModel, NormalizedEmail, Ref, enum_type, utc_now
from app.models.teams import Team, TeamRole
from app.models.users import User, UserRef

# What an invitation token looks like: URL-safe base64 (secrets.token_urlsafe(32) gives 43 characters). The bounds
# leave room for longer tokens later and refuse anything that cannot be one before it reaches the database.
TOKEN_PATTERN = r"^[A-Za-z0-9_-]+$"
TOKEN_MIN_LENGTH = 32
TOKEN_MAX_LENGTH = 128

InvitationToken = Annotated[
    str,
    PydanticField(
        min_length=TOKEN_MIN_LENGTH,
        max_length=TOKEN_MAX_LENGTH,
        pattern=TOKEN_PATTERN,
        description="The token from the invitation email.",
    ),
]

# At most one open (neither accepted nor revoked) invitation per team and address: inviting again renews it.
OPEN = text("accepted_at IS NULL AND revoked_at IS NULL")


class Invitation(SQLModel, table=True):
    """An emailed invitation to join a team; only the SHA-256 of its token is stored."""

    __tablename__ = "invitations"
    __table_args__ = (
        Index("uq_invitations_team_id_email_open", "team_id", "email", unique=True, postgresql_where=OPEN),
        Index("ix_invitations_team_id_created_at", "team_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # SET NULL: an invitation outlives its team, so accepting it can say the team is gone.
    team_id: uuid.UUID | None = Field(default=None, foreign_key="teams.id", ondelete="SET NULL")
    email: str = Field(max_length=320)
    role: TeamRole = Field(sa_type=enum_type(TeamRole, "team_role"))
    # SHA-256 (hex) of the token: the token is long and random, so a plain hash is enough and lookups stay exact.
    token_hash: str = Field(max_length=64, unique=True)
    invited_by_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    accepted_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))

    team: Team | None = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    invited_by: User | None = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class InvitationCreate(InputModel):
    email: NormalizedEmail
    role: TeamRole = TeamRole.member


class InvitationAccept(InputModel):
    token: InvitationToken


class InvitationPublic(SQLModel):
    """A pending invitation: the same shape whether or not its address has an account."""

    id: uuid.UUID
    team: Ref
    email: str
    role: TeamRole
    invited_by: UserRef | None
    created_at: datetime
    expires_at: datetime
