"""All versioned API routes under /api/v1."""

from fastapi import APIRouter

from app.api.routes import auth, projects, tasks, teams, users

api_router = APIRouter()
for module in (auth, users, teams, projects, tasks):
    api_router.include_router(module.router)
