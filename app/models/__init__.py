"""SQLModel tables and API shapes, one module per domain."""

from app.models.invitations import Invitation
from app.models.login_failures import LoginFailure, LoginLockout
from app.models.projects import Project
from app.models.tasks import Task
from app.models.teams import Membership, Team
from app.models.users import User

__all__ = ["Invitation", "LoginFailure", "LoginLockout", "Membership", "Project", "Task", "Team", "User"]
