"""All versioned API routes under /api/v1."""

from fastapi import APIRouter, Depends

from app.api.deps import require_json_body
from app.api.routes import auth, invitations, projects, tasks, teams, users

api_router = APIRouter(dependencies=[Depends(require_json_body)])
for module in (auth, users, teams, invitations, projects, tasks):
    api_router.include_router(module.router)
