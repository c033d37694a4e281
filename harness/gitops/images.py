"""Argo CD's images, built on this machine (no registry serves them here): Argo CD itself and the Redis it caches in.

Argo CD's image is its multi-call binary (`poe ci-tools`) with our pinned helm (`poe k8s-tools`) and git, on a Debian
base from the machine's own apt sources; Redis is Debian's package. Both are keyed by what goes into them and kept
as OCI archives in the images cache, like the service's images.
"""

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness import ci_tools, k8s_tools
from harness.images import ULIMITS, ImageError, cache_root, ensure_base, run_logged, size_mib

HERE = Path(__file__).parent
# What each image's Debian base holds. Argo CD's: what its own Dockerfile installs, less tzdata and connect-proxy.
ARGOCD_PACKAGES = ("git", "tini", "ca-certificates", "gpg", "gpg-agent", "openssh-client")
REDIS_PACKAGES = ("redis-server",)


@dataclass(frozen=True)
class GitopsImages:
    argocd: str
    redis: str
    archives: dict[str, Path]  # reference -> OCI archive

    def lines(self) -> list[str]:
        """One line per image: `<reference> <size in MiB>`, as `poe images` prints its own."""
        return [f"{reference} {size_mib(reference):.0f}" for reference in self.archives]


def _digest(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:12]


def _argocd_context(folder: Path) -> Path:
    """The build context of Argo CD's image: its binary, helm, its scripts and the Containerfile."""
    built = ci_tools.argocd_dir()
    shutil.copy(built / "bin" / "argocd", folder / "argocd")
    shutil.copy(k8s_tools.tools_dir() / "helm", folder / "helm")
    for script in sorted((built / "scripts").iterdir()):
        shutil.copy(script, folder / script.name)
        (folder / script.name).chmod(0o755)
    shutil.copy(HERE / "argocd.Containerfile", folder / "Containerfile")
    return folder


def _build(reference: str, context: Path, base: str, archive: Path, log: Path) -> None:
    args = ["buildah", "bud", "--layers", "--network", "host", *ULIMITS, "--build-arg", f"BASE={base}", "--pull-never"]
    run_logged(*args, "--tag", reference, "-f", str(context / "Containerfile"), str(context), cwd=context, log=log)
    archive.unlink(missing_ok=True)
    run_logged("buildah", "push", "--quiet", reference, f"oci-archive:{archive}:{reference}", log=log)


def ensure_gitops_images() -> GitopsImages:
    """Argo CD's and Redis' images: from the cache, or built now (a few minutes the first time)."""
    argocd_binary = ci_tools.argocd_dir() / "bin" / "argocd"
    helm = k8s_tools.tools_dir() / "helm"
    if not argocd_binary.is_file() or not helm.is_file():
        raise ImageError("gitops: Argo CD or helm not built: run `uv run poe ci-tools` and `uv run poe k8s-tools`")
    folder = cache_root() / "gitops"
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "build.log"
    with tempfile.TemporaryDirectory(prefix="bosun-argocd-") as tmp:
        context = _argocd_context(Path(tmp))
        argocd_base = ensure_base(log, "localhost/argocd-base", ARGOCD_PACKAGES)
        key = _digest(argocd_base.encode(), *(path.read_bytes() for path in sorted(context.iterdir())))
        argocd = f"localhost/argocd:{ci_tools.ARGO_CD_VERSION}-{key}"
        redis_base = ensure_base(log, "localhost/argocd-redis-base", REDIS_PACKAGES)
        redis = f"localhost/argocd-redis:{_digest(redis_base.encode(), (HERE / 'redis.Containerfile').read_bytes())}"
        manifest = folder / "images.json"
        known = json.loads(manifest.read_text()) if manifest.is_file() else {}
        archives = {argocd: folder / "argocd.tar", redis: folder / "redis.tar"}
        if known != {ref: str(path) for ref, path in archives.items()} or not all(
            p.is_file() for p in archives.values()
        ):
            manifest.unlink(missing_ok=True)
            _build(argocd, context, argocd_base, archives[argocd], log)
            with tempfile.TemporaryDirectory(prefix="bosun-redis-") as redis_tmp:
                shutil.copy(HERE / "redis.Containerfile", Path(redis_tmp) / "Containerfile")
                _build(redis, Path(redis_tmp), redis_base, archives[redis], log)
            manifest.write_text(json.dumps({ref: str(path) for ref, path in archives.items()}, indent=2))
    return GitopsImages(argocd=argocd, redis=redis, archives=archives)
