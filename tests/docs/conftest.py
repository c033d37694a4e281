from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.docs import site


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The documentation site, built strictly (as `uv run poe docs` does) into a temporary folder."""
    reason = site.missing()
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("site")
    result = site.build(folder)
    assert result.returncode == 0, result.stderr[-4000:]
    return folder


@pytest.fixture(scope="session")
def site_url(built_site: Path) -> Iterator[str]:
    with site.serve(built_site) as url:
        yield url
