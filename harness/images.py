"""Build the Dockerfile's images without a Docker engine (buildah), cached outside the repo; load them into the node.

    uv run poe images [--no-load]

It needs no container registry (air-gapped machines have none): the base is a Debian bookworm root filesystem with
Python made by mmdebstrap from the machine's own apt sources, imported as a local image and passed as `PYTHON_IMAGE`
(the Dockerfile's default stays the official Python image). The machine's CA bundle reaches the build as a secret, never
as a layer. Images are keyed by what goes into them (the build context and the base), exported as OCI archives, and
one line per image is printed: `<target> <reference> <size in MiB>`. A cluster that is up (`poe cluster up`) gets
them imported into its node.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.paths import REPO_ROOT

TARGETS = ("runtime", "operator", "loadtest")
REPOSITORIES = {
    "runtime": "localhost/bosun",
    "operator": "localhost/bosun-operator",
    "loadtest": "localhost/bosun-loadtest",
}
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_REPOSITORY = "localhost/bosun-python-base"
# What the Dockerfile copies (and the Dockerfile itself): a change to any of them is a new image.
CONTEXT = ("Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock", "app", "migrations", "operator", "loadtests")
IGNORED_PARTS = ("__pycache__", "reports")
# Without CAP_SYS_RESOURCE a container's rlimits must stay within this process's hard limits (buildah's default
# nproc does not).
ULIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096")
BUILD_COMMANDS = ("buildah", "podman", "mmdebstrap")
# Leave out documentation and translations from the base: they are a third of a minimal Python system.
BASE_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")


class ImageError(RuntimeError):
    """One line saying what failed."""


@dataclass(frozen=True)
class Image:
    target: str
    reference: str
    size_mib: float
    archive: Path

    def line(self) -> str:
        return f"{self.target} {self.reference} {self.size_mib:.0f}"


def cache_root() -> Path:
    base = os.environ.get("BOSUN_IMAGES_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bosun", "images"
    )
    return Path(base)


def base_reference(repository: str = BASE_REPOSITORY, packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    """A Debian base image's reference: its packages are in its tag's hash."""
    digest = hashlib.sha256(" ".join((BASE_SUITE, *packages, *BASE_EXCLUDES)).encode()).hexdigest()[:10]
    return f"{repository}:{BASE_SUITE}-{digest}"


def context_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files that go into the images, in a stable order."""
    found: list[Path] = []
    for entry in CONTEXT:
        path = root / entry
        if path.is_file():
            found.append(path)
        else:
            found += [p for p in path.rglob("*") if p.is_file() and not any(part in IGNORED_PARTS for part in p.parts)]
    return sorted(found)


def content_key(root: Path = REPO_ROOT) -> str:
    """A tag for the images of this source tree: it changes when anything that goes into them changes."""
    digest = hashlib.sha256(base_reference().encode())
    for path in context_files(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def missing_requirements() -> list[str]:
    return [f"`{name}` (Debian package)" for name in BUILD_COMMANDS if shutil.which(name) is None]


def ca_bundle() -> Path | None:
    """The machine's CA bundle, for the build's TLS to the package registries."""
    for candidate in (os.environ.get("SSL_CERT_FILE"), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def run_logged(*command: str, cwd: Path | None = None, log: Path | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if log is not None:
        with log.open("a") as out:
            out.write(f"$ {' '.join(command)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        where = f" (log: {log})" if log else ""
        last = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ImageError(f"images: {command[0]} {command[1]} failed: {last[0]}{where}")
    return result.stdout


def image_exists(reference: str) -> bool:
    return subprocess.run(["podman", "image", "exists", reference], capture_output=True).returncode == 0


def apt_sources() -> list[str]:
    """The machine's own Debian sources (mmdebstrap reads them like apt does)."""
    folder = Path("/etc/apt/sources.list.d")
    files = [Path("/etc/apt/sources.list"), *sorted(folder.glob("*.sources")), *sorted(folder.glob("*.list"))]
    return [str(path) for path in files if path.is_file() and BASE_SUITE in path.read_text()]


def ensure_base(log: Path, repository: str = BASE_REPOSITORY, packages: tuple[str, ...] = BASE_PACKAGES) -> str:
    """A Debian base image with `packages` (by default Python's; built once, about a minute)."""
    reference = base_reference(repository, packages)
    if image_exists(reference):
        return reference
    with tempfile.TemporaryDirectory(prefix="bosun-base-") as tmp:
        tarball = Path(tmp) / "base.tar"
        excludes = [f"--dpkgopt=path-exclude={pattern}" for pattern in BASE_EXCLUDES]
        run_logged("mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}", *excludes,
             "--skip=output/dev", BASE_SUITE, str(tarball), *apt_sources(), log=log)  # fmt: skip
        run_logged("podman", "import", str(tarball), reference, log=log)
    return reference


def size_mib(reference: str) -> float:
    size = run_logged("podman", "image", "inspect", "--format", "{{.Size}}", reference)
    return int(size.strip()) / 2**20


def build(key: str, folder: Path, log: Path) -> list[Image]:
    """Build the three targets from the repo's Dockerfile and export each as an OCI archive in `folder`."""
    base = ensure_base(log)
    secret = ca_bundle()
    built = []
    for target in TARGETS:
        reference = f"{REPOSITORIES[target]}:{key}"
        args = ["buildah", "bud", "--layers", "--network", "host", *ULIMITS, "--build-arg", f"PYTHON_IMAGE={base}"]
        if secret is not None:
            args += ["--secret", f"id=ca-bundle,src={secret}"]
        run_logged(*args, "--target", target, "--tag", reference, str(REPO_ROOT), cwd=REPO_ROOT, log=log)
        archive = folder / f"{target}.tar"
        archive.unlink(missing_ok=True)
        run_logged("buildah", "push", "--quiet", reference, f"oci-archive:{archive}:{reference}", log=log)
        built.append(Image(target, reference, size_mib(reference), archive))
    return built


def derive(source: str, reference: str, files: dict[str, str], archive: Path) -> Path:
    """An image made from `source` with `files` (path in the image -> text) added, exported as an OCI archive."""
    container = run_logged("buildah", "from", "--quiet", "--pull-never", source).strip()
    try:
        with tempfile.TemporaryDirectory(prefix="bosun-derive-") as tmp:
            for path, text in files.items():
                local = Path(tmp) / Path(path).name
                local.write_text(text)
                run_logged("buildah", "copy", "--chown", "10001:10001", container, str(local), path)
        run_logged("buildah", "commit", "--quiet", container, reference)
    finally:
        subprocess.run(["buildah", "rm", container], capture_output=True)
    archive.unlink(missing_ok=True)
    run_logged("buildah", "push", "--quiet", reference, f"oci-archive:{archive}:{reference}")
    return archive


def _manifest(folder: Path) -> Path:
    return folder / "images.json"


def cached(key: str) -> list[Image] | None:
    """The images of this key, when they were built and exported before."""
    folder = cache_root() / key
    try:
        entries = json.loads(_manifest(folder).read_text())
    except FileNotFoundError:
        return None
    images = [Image(e["target"], e["reference"], e["size_mib"], folder / f"{e['target']}.tar") for e in entries]
    if not all(image.archive.is_file() for image in images):
        return None
    return images


def stale(references: list[str], keys: list[str]) -> list[str]:
    """Our image references of source trees other than `keys` (derived images carry their tree's key as a prefix)."""
    ours = tuple(f"{repository}:" for repository in REPOSITORIES.values())
    return [r for r in references if r.startswith(ours) and not r.split(":", 1)[1].startswith(tuple(keys))]


KEEP_TREES = 3  # source trees whose images stay (other checkouts may share the cache)


def prune(key: str) -> None:
    """Forget the images of older source trees: archives, tags, and build layers over a day old."""
    folders = sorted((f for f in cache_root().iterdir() if f.is_dir()), key=lambda f: f.stat().st_mtime, reverse=True)
    kept = [key, *[f.name for f in folders if f.name != key][: KEEP_TREES - 1]]
    for folder in folders:
        if folder.name not in kept:
            shutil.rmtree(folder, ignore_errors=True)
    try:
        listed = run_logged("podman", "images", "--format", "{{.Repository}}:{{.Tag}}").split()
    except ImageError as error:  # another build changing the store under it: prune next time
        print(f"images: not pruned this time ({error})", file=sys.stderr)
        return
    old = stale(listed, kept)
    for reference in old:  # one by one: an image a container still uses stays
        subprocess.run(["podman", "rmi", reference], capture_output=True)
    if old:
        # The untagged layers of builds older than a day; younger ones are the layer cache the next build reuses.
        subprocess.run(["podman", "image", "prune", "--force", "--filter", "until=24h"], capture_output=True)


def ensure_images(log: Path | None = None) -> list[Image]:
    """The images of the current source tree: from the cache, or built now."""
    key = content_key()
    found = cached(key)
    if found is not None:
        return found
    missing = missing_requirements()
    if missing:
        raise ImageError("images: this machine lacks " + ", ".join(missing))
    folder = cache_root() / key
    folder.mkdir(parents=True, exist_ok=True)
    log = log or folder / "build.log"
    images = build(key, folder, log)
    entries = [{"target": i.target, "reference": i.reference, "size_mib": round(i.size_mib, 1)} for i in images]
    _manifest(folder).write_text(json.dumps(entries, indent=2))  # last: only whole sets count as cached
    prune(key)
    return images


def current_images() -> dict[str, Image] | None:
    """The images of the current source tree by target, when `poe images` built them."""
    found = cached(content_key())
    return None if found is None else {image.target: image for image in found}


NOT_BUILT = "images of this source tree not built: run `uv run poe images`"


def reference(target: str) -> str:
    """The reference of a target's image for the current source tree (built or not)."""
    return f"{REPOSITORIES[target]}:{content_key()}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="poe images", description=__doc__.splitlines()[0])
    parser.add_argument("--no-load", action="store_true", help="do not import the images into a running cluster")
    options = parser.parse_args(argv)
    started = time.monotonic()
    try:
        images = ensure_images()
        if not options.no_load:
            from harness.node.cluster import running

            cluster = running()
            if cluster is not None:
                for image in images:
                    cluster.import_image(image.archive, image.reference)
    except (ImageError, RuntimeError) as exc:  # RuntimeError: the node refused an import
        print(str(exc).splitlines()[0], file=sys.stderr)
        return 1
    for image in images:
        print(image.line())
    print(f"images: ready in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
