"""`/` and `/api/v1`: where a person who opens the service's address finds the documentation."""

from fastapi import APIRouter, Request

from app.api.routes import API_PREFIX

router = APIRouter(include_in_schema=False)


@router.get("/")
@router.get(API_PREFIX)
async def home(request: Request) -> dict[str, str]:
    """Links to the interactive docs, the reference and the OpenAPI document."""
    root = request.scope.get("root_path", "")
    return {
        "name": request.app.title,
        "docs": f"{root}/docs",
        "reference": f"{root}/redoc",
        "openapi": f"{root}{request.app.openapi_url}",
    }
