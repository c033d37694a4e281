"""README.md is the front page: the two commands, and a link to every page of the site that resolves."""

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


class _MkDocsLoader(yaml.SafeLoader):
    """mkdocs.yml names Python objects (`!!python/name:`): read them as their names."""


_MkDocsLoader.add_multi_constructor("tag:yaml.org,2002:python/name:", lambda loader, suffix, node: f"python:{suffix}")


def nav_pages(nav: Any) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def test_nav_pages_are_found() -> None:
    nav = [{"Home": "index.md"}, {"Run": [{"A": "a.md"}, {"Ref": [{"B": "ref/b.md"}]}]}]
    assert nav_pages(nav) == ["index.md", "a.md", "ref/b.md"]


def test_the_readme_links_every_page_and_every_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text()
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_MkDocsLoader)
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [link for link in links if not re.match(r"^[a-z]+://", link)]
    assert [link for link in local if not (ROOT / link).exists()] == []
    pages = {f"docs/{page}" for page in nav_pages(config["nav"]) if page != "index.md"}
    assert sorted(pages - set(local)) == []


def test_the_readme_gives_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.search(r"```bash\n(.*?)```", readme, re.DOTALL)
    assert commands is not None
    assert [line.split("#")[0].strip() for line in commands.group(1).splitlines()] == [
        "uv run bosun serve",
        "uv run pytest",
    ]
