"""Teams and memberships; membership is also the access rule for everything in a team."""

import uuid
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, and_, bindparam, func, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import joinedload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.models.common import utc_now
from app.models.projects import Project
from app.models.tasks import Task
from app.models.teams import MemberCreate, Membership, Team, TeamCreate, TeamPublic, TeamRole
from app.models.users import User
from app.services.rows import ListStatements, RowShape
from app.services.users import get_by_email


def is_member_clause(team_id: object, user_id: object) -> ColumnElement[bool]:
    """Join condition: the Membership row of the user `user_id` (a value or bind parameter) in the team whose id is
    `team_id` (a column)."""
    return and_(col(Membership.team_id) == team_id, col(Membership.user_id) == user_id)


_T = TypeVar("_T")


async def with_role(
    session: AsyncSession,
    query: Select[_T, str],
    team_id: object,
    user: User,
    *,
    for_update: bool,
    missing: str,
) -> tuple[_T, TeamRole]:
    """The row `query` selects (with `Membership.role`) in a team the caller belongs to, and their role in it, the
    team's id being `team_id` (a column the query joins); NotFound(`missing`) for non-members, so rows do not leak.
    for_update: the row (not its team's) stays locked until the transaction ends."""
    query = query.join(Membership, is_member_clause(team_id, user.id))
    if for_update:
        query = query.with_for_update(of=query.column_descriptions[0]["entity"])
    row = (await session.exec(query)).first()
    if row is None:
        raise NotFound(missing)
    return row[0], TeamRole(row[1])


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
    """Whether a user belongs to a team; the membership stays until this transaction ends.

    The lock (FOR KEY SHARE) makes a concurrent removal wait, so it unassigns what this transaction assigns.
    """
    query = select(Membership.id).where(Membership.team_id == team_id, Membership.user_id == user_id)
    return (await session.exec(query.with_for_update(read=True, key_share=True))).first() is not None


async def create_team(session: AsyncSession, user: User, data: TeamCreate) -> Membership:
    """A new team with the caller as its owner: the owner's membership (its team loaded)."""
    team = Team(name=data.name)
    session.add(team)
    await session.flush()
    membership = Membership(team_id=team.id, user_id=user.id, role=TeamRole.owner)
    membership.team = team
    session.add(membership)
    await session.flush()
    return membership


# The caller's teams: plain rows with TeamPublic's fields (see rows.py), the role from the caller's membership.
_LIST = RowShape(TeamPublic, Team, joined={"role": Membership.role})
_MINE = is_member_clause(Team.id, bindparam("user_id"))
_LIST_STATEMENTS = ListStatements.paged(
    _LIST,
    sa_select(*_LIST.columns)
    .select_from(Team)
    .join(Membership, _MINE)
    .order_by(col(Team.created_at).desc(), col(Team.id).desc()),
    select(Team.id).join(Membership, _MINE),
)


async def list_teams(session: AsyncSession, user: User, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """The caller's teams, newest first, as TeamPublic's fields (with the caller's role), with the total."""
    return await _LIST_STATEMENTS.read(await session.connection(), {"user_id": user.id}, limit, offset)


async def get_team_detail(session: AsyncSession, team_id: uuid.UUID, user: User) -> tuple[Membership, list[Membership]]:
    """The caller's membership of a team (its team loaded) and every membership (users loaded), for members only."""
    membership = await require_membership(session, team_id, user)
    query = (
        select(Membership)
        .where(Membership.team_id == team_id)
        .options(joinedload(Membership.user))  # type: ignore[arg-type]
        .order_by(col(Membership.joined_at), col(Membership.id))
    )
    return membership, list((await session.exec(query)).all())


async def add_member(session: AsyncSession, team_id: uuid.UUID, actor: User, data: MemberCreate) -> Membership:
    """Add a registered user to a team directly (instance superusers only, who may list every user anyway): the new
    membership. Everyone else invites by email, which says nothing about who has an account."""
    if not actor.is_superuser:
        raise PermissionDenied(
            "Adding a user directly is for instance administrators; invite them by email instead "
            "(POST /api/v1/teams/{team_id}/invitations)."
        )
    team = await session.get(Team, team_id)
    if team is None:
        raise NotFound("Team not found.")
    user = await get_by_email(session, data.email)
    if user is None:
        # The body names nobody: the request is invalid, the team (the resource addressed) exists.
        raise InvalidInput(f"email: no user is registered with the email {data.email}.")
    if await is_member(session, team_id, user.id):
        raise Conflict(f"{data.email} is already a member of this team.")
    new = Membership(team_id=team_id, user_id=user.id, role=data.role)
    new.user, new.team = user, team
    session.add(new)
    await session.flush()
    return new


async def _lock_team(session: AsyncSession, team_id: uuid.UUID) -> None:
    """Serialize membership changes of one team: every such change locks the team row first, so they never deadlock."""
    await session.exec(select(Team.id).where(Team.id == team_id).with_for_update())


async def remove_member(session: AsyncSession, team_id: uuid.UUID, actor: User, user_id: uuid.UUID) -> None:
    """Remove a member (owners/admins, or yourself); a team always keeps an owner; their tasks here are unassigned."""
    await _lock_team(session, team_id)
    # Read after the lock: a concurrent removal of the actor has committed by now.
    acting = await require_membership(session, team_id, actor)
    if user_id != actor.id and not acting.role.can_manage:
        raise PermissionDenied("Only team owners and admins can remove other members.")
    query = select(Membership).where(Membership.team_id == team_id, Membership.user_id == user_id)
    target = (await session.exec(query)).first()
    if target is None:
        raise NotFound("That user is not a member of this team.")
    if target.role is TeamRole.owner:
        if user_id != actor.id and acting.role is not TeamRole.owner:
            raise PermissionDenied("Only team owners can remove owners.")
        owners = select(func.count()).where(Membership.team_id == team_id, Membership.role == TeamRole.owner)
        if (await session.exec(owners)).one() <= 1:
            raise Conflict("The last owner cannot leave the team; make someone else owner first.")
    await session.delete(target)
    # Nobody outside a team is assigned its tasks.
    team_projects = select(Project.id).where(Project.team_id == team_id)
    await session.exec(
        update(Task)
        .where(col(Task.assignee_id) == user_id, col(Task.project_id).in_(team_projects))
        .values(assignee_id=None, version=col(Task.version) + 1, updated_at=utc_now())
    )
    await session.flush()
