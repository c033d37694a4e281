"""Mermaid for the documentation site, from its npm package (pinned, integrity-checked), never from a CDN.

The site's diagrams render in the reader's browser with `mermaid.min.js` served by the site itself, so it reads
the same offline. The package is fetched once with `npm pack` into the Node cache outside the repo.
"""

import shutil
import sys
import tempfile
from pathlib import Path

from harness import node_tools

# Material for MkDocs drives Mermaid 11 (its own fallback loads mermaid@11): keep to that major version.
VERSION = "11.17.2"
# `npm view mermaid@11.17.2 dist.integrity`
INTEGRITY = "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg=="


def folder() -> Path:
    return node_tools.cache_root() / f"mermaid-{VERSION}"


def script() -> Path:
    """The path of the pinned `mermaid.min.js`, fetched first when the cache lacks it."""
    target = folder() / "mermaid.min.js"
    if target.exists():
        return target
    folder().parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bosun-mermaid-", dir=folder().parent) as tmp:
        work = Path(tmp)
        node_tools.fetch_package("mermaid", VERSION, work / "package", work, INTEGRITY)
        staged = work / "staged"
        staged.mkdir()
        for name in ("dist/mermaid.min.js", "LICENSE"):
            shutil.copy(work / "package" / name, staged / Path(name).name)
        shutil.rmtree(folder(), ignore_errors=True)
        shutil.move(staged, folder())  # only a complete copy reaches the cache
    print(f"docs: fetched mermaid {VERSION} into {folder()}", file=sys.stderr)
    return target
