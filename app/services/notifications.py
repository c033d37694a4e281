"""Emails the service sends to users."""

from app.core.config import Settings
from app.core.email import send_email
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
