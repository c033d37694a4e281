"""The docs' static assets (Swagger UI, ReDoc: about 1.5 MB) may be cached, unlike every API response."""

import os
from typing import Any

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.routing import Mount

# The same files for a whole release; a day keeps an upgrade's new assets from waiting long.
DOCS_ASSETS_CACHE_CONTROL = "public, max-age=86400"


class _CacheableStaticFiles(StaticFiles):
    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        # Set here, the request middleware's default `no-store` (for tokens and user data) leaves it alone.
        response.headers["Cache-Control"] = DOCS_ASSETS_CACHE_CONTROL
        return response


def make_docs_assets_cacheable(app: FastAPI) -> None:
    """Serve the docs' static mount with a Cache-Control that lets browsers and proxies keep the assets."""
    for route in app.router.routes:
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            directory: str | os.PathLike[str] | None = route.app.directory
            route.app = _CacheableStaticFiles(directory=directory)
