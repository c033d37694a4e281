"""Team invitations by email: sent, listed and revoked by a team's owners and admins, accepted by the addressee."""

import uuid
from datetime import timedelta

from fastapi import APIRouter, BackgroundTasks, Response, status

from app.api.deps import CurrentUser, PaginationDep, SessionDep, SettingsDep, VerifiedEmail
from app.api.errors import problem_responses
from app.api.routes import API_PREFIX
from app.models.common import Page
from app.models.invitations import Invitation, InvitationAccept, InvitationCreate, InvitationPublic
from app.models.teams import Team, TeamPublic
from app.services import invitations as invitations_service
from app.services.notifications import send_invitation_email

router = APIRouter(prefix=API_PREFIX, tags=["invitations"])


def _public(invitation: Invitation, team: Team) -> InvitationPublic:
    return InvitationPublic.model_validate(invitation, update={"team": team})


@router.post(
    "/teams/{team_id}/invitations",
    response_model=InvitationPublic,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(403, 409),
)
async def create_invitation(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    team_id: uuid.UUID,
    data: InvitationCreate,
    background: BackgroundTasks,
) -> InvitationPublic:
    """Email an invitation to join the team (owners and admins; only owners invite owners).

    The same answer whether or not the address has an account; inviting it again sends a new token (the old one
    stops working) with a fresh expiry.
    """
    lifetime = timedelta(days=settings.INVITATION_EXPIRE_DAYS)
    team, invitation, email = await invitations_service.invite(session, team_id, user, data, lifetime=lifetime)
    background.add_task(send_invitation_email, settings, email)
    return _public(invitation, team)


@router.get(
    "/teams/{team_id}/invitations",
    response_model=Page[InvitationPublic],
    responses=problem_responses(403),
)
async def list_invitations(session: SessionDep, user: CurrentUser, team_id: uuid.UUID, page: PaginationDep) -> Response:
    """The team's pending invitations (not accepted, revoked or expired), newest first (owners and admins)."""
    invitations, total = await invitations_service.list_pending(
        session, team_id, user, limit=page.limit, offset=page.offset
    )
    return page.json_page(invitations, total)


@router.delete(
    "/teams/{team_id}/invitations/{invitation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403),
)
async def revoke_invitation(
    session: SessionDep, user: CurrentUser, team_id: uuid.UUID, invitation_id: uuid.UUID
) -> None:
    """Revoke a pending invitation: its token stops working (owners and admins; only owners revoke an owner's)."""
    await invitations_service.revoke(session, team_id, invitation_id, user)


@router.post(
    "/invitations/accept",
    response_model=TeamPublic,
    responses=problem_responses(403, 409, 410),
)
async def accept_invitation(
    session: SessionDep, user: CurrentUser, email: VerifiedEmail, data: InvitationAccept
) -> TeamPublic:
    """Join a team with the token from its invitation email: the caller's verified address must be the invited one.

    The token is sent in the body, never in the URL, so no access log or proxy records it. It works once: 422 when
    no invitation has it, 403 for another address, 409 when accepted already, 410 when revoked or expired.
    """
    membership = await invitations_service.accept(session, data.token, user, email)
    return TeamPublic.model_validate(membership.team, update={"role": membership.role})
