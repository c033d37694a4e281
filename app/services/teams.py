"""Teams and memberships; membership is also the access rule for everything in a team."""

import uuid

from sqlalchemy import ColumnElement, and_, func
from sqlalchemy.orm import joinedload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import Conflict, NotFound, PermissionDenied
from app.models.teams import (
    MemberCreate,
    MemberPublic,
    Membership,
    Team,
    TeamCreate,
    TeamDetail,
    TeamPublic,
    TeamRole,
)
from app.models.users import User, UserPublic
from app.services.users import get_by_email


def _team_public(team: Team, role: TeamRole) -> TeamPublic:
    return TeamPublic(id=team.id, name=team.name, created_at=team.created_at, role=role)


def _member_public(membership: Membership) -> MemberPublic:
    return MemberPublic(
        user=UserPublic.model_validate(membership.user),
        role=membership.role,
        joined_at=membership.joined_at,
    )


def is_member_clause(team_id: object, user: User) -> ColumnElement[bool]:
    """Join condition: the Membership row of `user` in the team whose id is `team_id` (a column)."""
    return and_(col(Membership.team_id) == team_id, col(Membership.user_id) == user.id)


async def require_membership(session: AsyncSession, team_id: uuid.UUID, user: User) -> Membership:
    """The caller's membership of a team; 404 for non-members so teams do not leak."""
    query = (
        select(Membership)
        .where(Membership.team_id == team_id, Membership.user_id == user.id)
        .options(joinedload(Membership.team))  # type: ignore[arg-type]
    )
    membership = (await session.exec(query)).first()
    if membership is None:
        raise NotFound("Team not found.")
    return membership


async def is_member(session: AsyncSession, team_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Whether a user belongs to a team."""
    query = select(Membership.id).where(Membership.team_id == team_id, Membership.user_id == user_id)
    return (await session.exec(query)).first() is not None


async def create_team(session: AsyncSession, user: User, data: TeamCreate) -> TeamPublic:
    """A new team with the caller as its owner."""
    team = Team(name=data.name)
    session.add(team)
    await session.flush()
    session.add(Membership(team_id=team.id, user_id=user.id, role=TeamRole.owner))
    await session.flush()
    return _team_public(team, TeamRole.owner)


async def list_teams(session: AsyncSession, user: User, *, limit: int, offset: int) -> tuple[list[TeamPublic], int]:
    """The caller's teams, newest first, each with the caller's role."""
    mine = select(Team, Membership.role).join(Membership).where(Membership.user_id == user.id)
    total = (await session.exec(select(func.count()).select_from(mine.subquery()))).one()
    rows = await session.exec(
        mine.order_by(col(Team.created_at).desc(), col(Team.id).desc()).limit(limit).offset(offset)
    )
    return [_team_public(team, TeamRole(role)) for team, role in rows.all()], total


async def get_team_detail(session: AsyncSession, team_id: uuid.UUID, user: User) -> TeamDetail:
    """A team with its members, for members only."""
    membership = await require_membership(session, team_id, user)
    query = (
        select(Membership)
        .where(Membership.team_id == team_id)
        .options(joinedload(Membership.user))  # type: ignore[arg-type]
        .order_by(col(Membership.joined_at), col(Membership.id))
    )
    members = (await session.exec(query)).all()
    team = membership.team
    return TeamDetail(
        id=team.id,
        name=team.name,
        created_at=team.created_at,
        role=membership.role,
        members=[_member_public(m) for m in members],
    )


async def add_member(session: AsyncSession, team_id: uuid.UUID, actor: User, data: MemberCreate) -> MemberPublic:
    """Add a registered user to a team (owners and admins; only owners make owners)."""
    membership = await require_membership(session, team_id, actor)
    if not membership.role.can_manage:
        raise PermissionDenied("Only team owners and admins can add members.")
    if data.role is TeamRole.owner and membership.role is not TeamRole.owner:
        raise PermissionDenied("Only team owners can add owners.")
    user = await get_by_email(session, data.email)
    if user is None:
        raise NotFound(f"No user is registered with the email {data.email}.")
    if await is_member(session, team_id, user.id):
        raise Conflict(f"{data.email} is already a member of this team.")
    new = Membership(team_id=team_id, user_id=user.id, role=data.role)
    session.add(new)
    await session.flush()
    return MemberPublic(user=UserPublic.model_validate(user), role=new.role, joined_at=new.joined_at)


async def remove_member(session: AsyncSession, team_id: uuid.UUID, actor: User, user_id: uuid.UUID) -> None:
    """Remove a member (owners/admins, or yourself); a team always keeps an owner."""
    acting = await require_membership(session, team_id, actor)
    if user_id != actor.id and not acting.role.can_manage:
        raise PermissionDenied("Only team owners and admins can remove other members.")
    query = select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id).with_for_update()
    target = (await session.exec(query)).first()
    if target is None:
        raise NotFound("That user is not a member of this team.")
    if target.role is TeamRole.owner:
        if user_id != actor.id and acting.role is not TeamRole.owner:
            raise PermissionDenied("Only team owners can remove owners.")
        # Lock the team's owner rows so two concurrent removals cannot both pass the check.
        owners = select(Membership.id).where(Membership.team_id == team_id, Membership.role == TeamRole.owner)
        if len((await session.exec(owners.with_for_update())).all()) <= 1:
            raise Conflict("The last owner cannot leave the team; make someone else owner first.")
    await session.delete(target)
    await session.flush()
