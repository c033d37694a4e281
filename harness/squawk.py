"""Build (once) squawk, the PostgreSQL migration linter, into a cache outside the repo; print where it is.

    uv run poe squawk-tools

`cargo install` from crates.io with the locked dependency versions; newer squawk releases need a newer rustc than
the one CI has. A cold build takes minutes, a warm cache answers at once.
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# The one place the version is pinned.
SQUAWK_VERSION = "2.50.0"

NOT_BUILT = "squawk not built: run uv run poe squawk-tools"


def cache_root() -> Path:
    base = os.environ.get("BOSUN_SQUAWK_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bosun"
    )
    return Path(base)


def install_root() -> Path:
    """The cargo install root of this version (it may not be built yet)."""
    return cache_root() / f"squawk-{SQUAWK_VERSION}"


def squawk_path() -> Path:
    return install_root() / "bin" / "squawk"


def built() -> bool:
    return os.access(squawk_path(), os.X_OK)


def main() -> None:
    if built():
        print(squawk_path())
        return
    cargo = shutil.which("cargo")
    if cargo is None:
        raise SystemExit("squawk-tools: cargo (the Rust toolchain) is needed to build squawk")
    started = time.monotonic()
    # cargo copies the binary into the root only once the build succeeded, so a failed build leaves nothing half-made.
    command = [cargo, "install", "squawk", "--version", SQUAWK_VERSION, "--locked", "--root", str(install_root())]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"squawk-tools: cargo install failed:\n{result.stderr[-4000:]}")
    print(f"squawk-tools: built squawk {SQUAWK_VERSION} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    print(squawk_path())


if __name__ == "__main__":
    main()
