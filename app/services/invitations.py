"""Team invitations by email: sent by a team's owners and admins, accepted by the addressee with the emailed token.

Inviting never looks up whether the address has an account, so the answer (and the work behind it) is the same
either way: a team cannot be used to find out who is registered. The token is the proof that its holder reads that
mailbox; only its SHA-256 is stored, and it works once.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, DateTime, and_, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased, joinedload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, Gone, InvalidInput, NotFound, PermissionDenied
from app.models.common import Ref, utc_now
from app.models.invitations import OPEN, Invitation, InvitationCreate, InvitationPublic
from app.models.teams import Membership, Team, TeamRole
from app.models.users import User, UserRef
from app.services.rows import ListStatements, RowShape
from app.services.teams import is_member, require_membership

# 32 random bytes: 43 URL-safe characters, far beyond guessing.
TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh invitation token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 in hex (a random token needs no slow hash)."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class InvitationEmail:
    """An invitation to send once it is committed; the token exists only here and in the email."""

    email: str
    token: str
    team_name: str
    role: TeamRole
    invited_by: str
    expires_at: datetime


def _require_manager(membership: Membership, role: TeamRole | None = None) -> None:
    if not membership.role.can_manage:
        raise PermissionDenied("Only team owners and admins can manage invitations.")
    if role is TeamRole.owner and membership.role is not TeamRole.owner:
        raise PermissionDenied("Only team owners can invite owners or revoke their invitations.")


async def _email_is_member(session: AsyncSession, team_id: uuid.UUID, email: str) -> bool:
    query = select(Membership.id).join(User).where(Membership.team_id == team_id, User.email == email)
    return (await session.exec(query)).first() is not None


async def invite(
    session: AsyncSession, team_id: uuid.UUID, actor: User, data: InvitationCreate, *, lifetime: timedelta
) -> tuple[Team, Invitation, InvitationEmail]:
    """Invite an address to a team (owners and admins; only owners invite owners): the team, the invitation and the
    email to send. Inviting an address again renews its open invitation (a new token, role and expiry)."""
    membership = await require_membership(session, team_id, actor)
    _require_manager(membership, data.role)
    # The team's managers see its members' addresses anyway: saying so tells them nothing about other accounts.
    if await _email_is_member(session, team_id, data.email):
        raise Conflict(f"{data.email} is already a member of this team.")
    token, now = new_token(), utc_now()
    fields = {
        "role": data.role,
        "token_hash": token_hash(token),
        "invited_by_id": actor.id,
        "created_at": now,
        "expires_at": now + lifetime,
    }
    statement = (
        insert(Invitation)
        .values(id=uuid.uuid4(), team_id=team_id, email=data.email, **fields)
        .on_conflict_do_update(index_elements=["team_id", "email"], index_where=OPEN, set_=fields)
        .returning(Invitation)
    )
    invitation: Invitation = (await session.exec(statement)).scalars().one()
    invitation.invited_by = actor
    email = InvitationEmail(
        email=data.email,
        token=token,
        team_name=membership.team.name,
        role=data.role,
        invited_by=actor.full_name or actor.email,
        expires_at=invitation.expires_at,
    )
    return membership.team, invitation, email


def _pending(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """The condition of invitations that can still be accepted."""
    return and_(OPEN, col(Invitation.expires_at) > now)


# A team's pending invitations: plain rows with InvitationPublic's fields (see rows.py).
_INVITER = aliased(User, name="invited_by")
_LIST = RowShape(InvitationPublic, Invitation, {"team": (Team, Ref), "invited_by": (_INVITER, UserRef)})
_LIST_PENDING = and_(
    col(Invitation.team_id) == bindparam("team_id"),
    _pending(bindparam("now", type_=DateTime(timezone=True))),
)
_LIST_STATEMENTS = ListStatements.paged(
    _LIST,
    sa_select(*_LIST.columns)
    .select_from(Invitation)
    .join(Team, col(Team.id) == Invitation.team_id)
    .outerjoin(_INVITER, col(_INVITER.id) == Invitation.invited_by_id)
    .where(_LIST_PENDING)
    .order_by(col(Invitation.created_at).desc(), col(Invitation.id).desc()),
    select(Invitation.id).where(_LIST_PENDING),
)


async def list_pending(
    session: AsyncSession, team_id: uuid.UUID, actor: User, *, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A team's invitations that can still be accepted, newest first, as InvitationPublic's fields, with the total
    (owners and admins)."""
    _require_manager(await require_membership(session, team_id, actor))
    params = {"team_id": team_id, "now": utc_now()}
    return await _LIST_STATEMENTS.read(await session.connection(), params, limit, offset)


async def revoke(session: AsyncSession, team_id: uuid.UUID, invitation_id: uuid.UUID, actor: User) -> None:
    """Revoke a pending invitation (owners and admins; only owners revoke an owner's): its token stops working."""
    membership = await require_membership(session, team_id, actor)
    _require_manager(membership)
    now = utc_now()
    query = (
        select(Invitation)
        .where(Invitation.id == invitation_id, Invitation.team_id == team_id, _pending(now))
        .with_for_update()
    )
    invitation = (await session.exec(query)).first()
    if invitation is None:
        raise NotFound("No pending invitation with this id in this team.")
    _require_manager(membership, invitation.role)
    invitation.revoked_at = now
    session.add(invitation)
    await session.flush()


async def accept(session: AsyncSession, token: str, user: User, verified_email: str) -> Membership:
    """Join the team an invitation names, as the role it names: the new membership (its team loaded).

    The caller's verified address must be the one the invitation was sent to; a token works once.
    """
    query = (
        select(Invitation)
        .where(Invitation.token_hash == token_hash(token))
        .options(joinedload(Invitation.team))  # type: ignore[arg-type]
        .with_for_update(of=Invitation)
    )
    invitation = (await session.exec(query)).first()
    if invitation is None:
        raise InvalidInput("token: no invitation has this token; check the link, or ask the team for a new one.")
    # Only its addressee learns what became of an invitation.
    if invitation.email != verified_email:
        raise PermissionDenied(
            "This invitation was sent to another email address: accept it with the account of that address."
        )
    now = utc_now()
    if invitation.revoked_at is not None:
        raise Gone("This invitation was revoked; ask the team for a new one.")
    if invitation.accepted_at is not None:
        raise Conflict("This invitation was already accepted.")
    if invitation.team is None:
        raise Gone("The team of this invitation no longer exists.")
    if invitation.expires_at <= now:
        expired = invitation.expires_at.astimezone(UTC)
        raise Gone(f"This invitation expired at {expired:%Y-%m-%d %H:%M} UTC; ask the team for a new one.")
    if await is_member(session, invitation.team.id, user.id):
        raise Conflict("You are already a member of this team.")
    membership = Membership(team_id=invitation.team.id, user_id=user.id, role=invitation.role)
    membership.team, membership.user = invitation.team, user
    invitation.accepted_at = now
    session.add_all([membership, invitation])
    await session.flush()
    return membership
