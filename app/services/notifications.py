"""Emails the service sends to users."""

from datetime import UTC

from app.core.config import Settings
from app.core.email import send_email
from app.services.invitations import InvitationEmail
from app.services.tasks import Assignment


def send_assignment_email(settings: Settings, assignment: Assignment) -> None:
    """Tell a user a task was assigned to them (run as a background task after commit)."""
    greeting = assignment.full_name or assignment.email
    body = (
        f"Hello {greeting},\n\n"
        f'{assignment.assigned_by} assigned you the task "{assignment.task_title}" '
        f"in the project {assignment.project_name}.\n\n"
        f"-- {settings.PROJECT_NAME}\n"
    )
    send_email(
        settings,
        to=assignment.email,
        subject=f"[{assignment.project_name}] You were assigned: {assignment.task_title}",
        body=body,
    )


def invitation_body(settings: Settings, invitation: InvitationEmail) -> str:
    """The text of an invitation email: the same whether or not the address has an account."""
    expires = invitation.expires_at.astimezone(UTC)
    how = (
        f"Open this link, log in (or sign up) with this email address, and accept:\n\n"
        f"    {settings.WEB_APP_URL}#invitation={invitation.token}\n"
        if settings.WEB_APP_URL
        else f"Log in (or sign up) with this email address and accept the invitation with this token:\n\n"
        f"    {invitation.token}\n"
    )
    return (
        f"Hello,\n\n"
        f'{invitation.invited_by} invited you to join the team "{invitation.team_name}" on {settings.PROJECT_NAME} '
        f"as {invitation.role.value}.\n\n"
        f"{how}\n"
        f"The invitation works once and expires at {expires:%Y-%m-%d %H:%M} UTC. If you did not expect it, "
        f"ignore this email.\n\n"
        f"-- {settings.PROJECT_NAME}\n"
    )


def send_invitation_email(settings: Settings, invitation: InvitationEmail) -> None:
    """Send an invitation (run as a background task after commit); the subject never carries the token."""
    send_email(
        settings,
        to=invitation.email,
        subject=f"{invitation.invited_by} invited you to {invitation.team_name} on {settings.PROJECT_NAME}",
        body=invitation_body(settings, invitation),
    )
