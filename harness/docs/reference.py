"""Write (or, with --check, compare) the reference pages generated from the code.

uv run poe docs-reference           # regenerate docs/reference/*.md
uv run python -m harness.docs.reference --check   # exit 1 naming each page that differs
"""

import sys
from collections.abc import Callable
from pathlib import Path

from harness.docs import crd_reference, settings_reference, values_reference

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Page (under docs/) -> the pure function that renders it.
PAGES: dict[str, Callable[[], str]] = {
    "reference/configuration.md": settings_reference.settings_page,
    "reference/apprelease.md": crd_reference.page,
    "reference/helm-values.md": values_reference.page,
}


def stale_pages(docs: Path = DOCS) -> list[str]:
    """The pages whose committed text differs from what the code renders now."""
    stale = []
    for name, render in PAGES.items():
        path = docs / name
        if not path.exists() or path.read_text() != render():
            stale.append(name)
    return stale


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        stale = stale_pages()
        for name in stale:
            print(f"docs/{name} differs from the code: run uv run poe docs-reference", file=sys.stderr)
        sys.exit(1 if stale else 0)
    if sys.argv[1:]:
        raise SystemExit("usage: python -m harness.docs.reference [--check]")
    for name, render in PAGES.items():
        path = DOCS / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render()
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"wrote docs/{name}")


if __name__ == "__main__":
    main()
