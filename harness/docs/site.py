"""Build the documentation site and serve a built copy on loopback (for the tests and for screenshots)."""

import functools
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.docs import mermaid

ROOT = Path(__file__).resolve().parents[2]


def missing() -> str | None:
    """Why the site cannot be built here, or None (Mermaid is fetched once with npm)."""
    if not (mermaid.folder() / "mermaid.min.js").exists() and shutil.which("npm") is None:
        return f"mermaid {mermaid.VERSION} not fetched and no npm to fetch it: apt-get install npm"
    return None


def build(site_dir: Path) -> subprocess.CompletedProcess[str]:
    """`mkdocs build --strict` (what `uv run poe docs` runs) into site_dir."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "--site-dir", str(site_dir)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
    )


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def serve(site_dir: Path) -> Iterator[str]:
    """Serve a built site over HTTP on loopback (search runs in a web worker, which file:// URLs cannot start)."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
