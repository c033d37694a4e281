"""The interactive docs work without internet access: assets come from the service itself, checked in Chromium."""

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from harness.gunicorn import gunicorn_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_home_and_api_root_point_to_the_docs(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1"):
        body = (await client.get(path)).json()
        assert body == {
            "name": "Bosun",
            "docs": "/docs",
            "reference": "/redoc",
            "openapi": "/api/v1/openapi.json",
        }


async def test_docs_pages_use_no_cdn(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        for asset in [part.split('"')[0] for part in page.text.split('src="')[1:]]:
            assert asset.startswith("/"), asset
            assert (await client.get(asset)).status_code == 200, asset


def _render(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium that can reach nothing but loopback."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            # Every host name but loopback fails to resolve: a CDN reference would leave the page blank.
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--virtual-time-budget=15000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
@pytest.mark.usefixtures("clean_database")
def test_docs_render_the_operations_offline(database_url: str, tmp_path: Path) -> None:
    with gunicorn_server(database_url, tmp_path, workers=1) as server:
        swagger = _render(f"{server.api}/docs", tmp_path / "profile-docs")
        redoc = _render(f"{server.api}/redoc", tmp_path / "profile-redoc")
    assert 'class="opblock-summary-path"' in swagger or "opblock-summary-path" in swagger, swagger[:2000]
    for path in ("/api/v1/teams", "/api/v1/projects/{project_id}", "/api/v1/auth/token"):
        assert path.replace("{", "").replace("}", "") in swagger.replace("\u200b", "").replace("{", "").replace(
            "}", ""
        ), path
    assert "Bosun" in redoc
    assert "/api/v1/teams" in redoc
