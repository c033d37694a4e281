"""The documentation site as a reader gets it: built strictly, whole offline, its table and search working."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from app.core.config import Settings
from harness import browser

# Where a page could pull a script, a style sheet, a font or an image from another host.
_FETCHING = {("script", "src"), ("link", "href"), ("img", "src"), ("iframe", "src"), ("source", "src")}
_EXTERNAL = re.compile(r"^(https?:)?//", re.IGNORECASE)


class _Fetches(HTMLParser):
    """The URLs a page fetches by itself (links a reader may follow are not fetched)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if (tag, name) in _FETCHING and value:
                self.urls.append(value)


def external_fetches(html: str) -> list[str]:
    parser = _Fetches()
    parser.feed(html)
    return [url for url in parser.urls if _EXTERNAL.match(url)]


@pytest.mark.parametrize(
    ("html", "found"),
    [
        ('<script src="https://unpkg.com/mermaid@11/dist/mermaid.min.js"></script>', True),
        ('<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">', True),
        ('<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>', True),
        ('<script src="assets/javascripts/bundle.js"></script><a href="https://squidfunk.github.io/">x</a>', False),
    ],
)
def test_external_fetches_are_found(html: str, found: bool) -> None:
    assert bool(external_fetches(html)) is found


def test_the_built_site_fetches_nothing_from_other_hosts(built_site: Path) -> None:
    pages = sorted(built_site.rglob("*.html"))
    assert len(pages) >= 16  # every page of the nav, and 404.html
    offending = {str(page.relative_to(built_site)): external_fetches(page.read_text()) for page in pages}
    assert {page: urls for page, urls in offending.items() if urls} == {}
    for sheet in built_site.rglob("*.css"):
        assert not re.search(r"(url\(\s*['\"]?|@import\s+['\"]?)(https?:)?//", sheet.read_text()), sheet
    assert (built_site / "assets" / "javascripts" / "mermaid.min.js").stat().st_size > 1_000_000


def test_a_reader_finds_the_settings_searches_them_and_sees_the_diagram(site_url: str) -> None:
    reason = browser.missing()
    if reason:
        pytest.skip(reason)
    with browser.page() as tab:
        tab.open(f"{site_url}/reference/configuration/")
        names = tab.evaluate(
            "[...document.querySelectorAll('article table')[0].querySelectorAll('tbody tr td:first-child')]"
            ".map(cell => cell.textContent)"
        )
        assert names == list(Settings.model_fields)

        tab.evaluate("document.querySelector('.md-search__input').focus()")
        tab.type("MIGRATION_LOCK_TIMEOUT")
        results = tab.wait_for(
            "[...document.querySelectorAll('.md-search-result__item > a')].map(a => new URL(a.href).pathname)",
            "search results",
        )
        assert "/reference/configuration/" in results

        tab.open(f"{site_url}/architecture/")
        # Material swaps the diagram's source for the rendered drawing only once Mermaid has drawn it.
        tab.wait_for("document.querySelector('div.mermaid') !== null", "the layer diagram to be drawn")
        assert tab.evaluate("document.querySelector('pre.mermaid')") is None

    assert tab.requests, "no request was recorded"
    elsewhere = [url for url in tab.requests if not url.startswith((site_url, "data:", "blob:", "about:"))]
    assert elsewhere == []
