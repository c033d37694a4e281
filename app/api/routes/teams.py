"""Teams and their members."""

import uuid

from fastapi import APIRouter, Response, status

from app.api.deps import CurrentUser, PaginationDep, SessionDep
from app.api.errors import problem_responses
from app.api.routes import API_PREFIX
from app.models.common import Page
from app.models.teams import MemberCreate, MemberPublic, Team, TeamCreate, TeamDetail, TeamPublic, TeamRole
from app.services import teams as teams_service

router = APIRouter(prefix=f"{API_PREFIX}/teams", tags=["teams"])


def _public(team: Team, role: TeamRole) -> TeamPublic:
    """A team with the caller's role in it."""
    return TeamPublic.model_validate(team, update={"role": role})


@router.post("", response_model=TeamPublic, status_code=status.HTTP_201_CREATED)
async def create_team(session: SessionDep, user: CurrentUser, data: TeamCreate) -> TeamPublic:
    """Create a team; the caller becomes its owner."""
    membership = await teams_service.create_team(session, user, data)
    return _public(membership.team, membership.role)


@router.get("", response_model=Page[TeamPublic])
async def list_teams(session: SessionDep, user: CurrentUser, page: PaginationDep) -> Response:
    """The caller's teams, newest first."""
    teams, total = await teams_service.list_teams(session, user, limit=page.limit, offset=page.offset)
    return page.json_page(teams, total)


@router.get("/{team_id}", response_model=TeamDetail)
async def read_team(session: SessionDep, user: CurrentUser, team_id: uuid.UUID) -> TeamDetail:
    """A team with its members."""
    membership, members = await teams_service.get_team_detail(session, team_id, user)
    return TeamDetail.model_validate(membership.team, update={"role": membership.role, "members": members})


@router.post(
    "/{team_id}/members",
    response_model=MemberPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409),
)
async def add_member(session: SessionDep, user: CurrentUser, team_id: uuid.UUID, data: MemberCreate) -> MemberPublic:
    """Add a registered user to the team directly (instance superusers only; everyone else invites by email)."""
    return MemberPublic.model_validate(await teams_service.add_member(session, team_id, user, data))


@router.delete(
    "/{team_id}/members/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 409),
)
async def remove_member(session: SessionDep, user: CurrentUser, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Remove a member (owners and admins, or the member themself)."""
    await teams_service.remove_member(session, team_id, user, user_id)
