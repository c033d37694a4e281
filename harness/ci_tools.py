"""Fetch or build (once) the third-party parts the GitOps and monitoring tests check against; print their folder.

    uv run poe ci-tools

- Argo CD's CRDs (Application, ApplicationSet, AppProject): `manifests/crds/` of the Go module
  github.com/argoproj/argo-cd/v3. Its go.mod asks for Go 1.27, so `go mod download` runs with
  GOTOOLCHAIN=go1.27.3 (the Go module proxy serves that toolchain too).
- The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule, ...): `example/prometheus-operator-crd/` of
  github.com/prometheus-operator/prometheus-operator.
- promtool and the Prometheus server: `go build` of github.com/prometheus/prometheus `cmd/promtool` and
  `cmd/prometheus`, without the cloud service-discovery plugins (build tag `remove_all_sd`) but with Kubernetes
  discovery (the end-to-end tests find the pods of a real cluster through its API), and without the web UI's
  assets: the HTTP API is all the tests use.

Everything lands in a cache outside the repo, one folder per pinned version; only complete results reach it, so an
interrupted run starts that part again. A warm cache answers in well under a second.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The one place the versions are pinned.
ARGO_CD_VERSION = "v3.6.1"
ARGO_CD_TOOLCHAIN = "go1.27.3"
PROMETHEUS_OPERATOR_VERSION = "v0.94.1"
PROMETHEUS_RELEASE = "3.16.0"
_major, _minor, _patch = PROMETHEUS_RELEASE.split(".")
PROMETHEUS_VERSION = f"v0.{_major}{int(_minor):02d}.{_patch}"  # Prometheus 3.x publishes its Go module as v0.3XX.Y

ARGO_CD_MODULE = "github.com/argoproj/argo-cd/v3"
ARGOCD_SCRIPTS = ("entrypoint.sh", "hack/gpg-wrapper.sh", "hack/git-verify-wrapper.sh")
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_MODULE = "github.com/prometheus/prometheus"


def cache_root() -> Path:
    base = os.environ.get("BOSUN_CI_TOOLS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bosun", "ci-tools"
    )
    return Path(base)


def argocd_crds_dir() -> Path:
    """Argo CD's CRD manifests (may not be fetched yet)."""
    return cache_root() / f"argo-cd-{ARGO_CD_VERSION}" / "crds"


def prometheus_operator_crds_dir() -> Path:
    """The Prometheus Operator's CRD manifests (may not be fetched yet)."""
    return cache_root() / f"prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}" / "crds"


# Service discovery built in: none of the cloud ones, Kubernetes' (part of the cache key: another set is another build).
PROMETHEUS_TAGS = "remove_all_sd,enable_kubernetes_sd"


def prometheus_bin_dir() -> Path:
    """Where promtool and prometheus live (they may not be built yet)."""
    return cache_root() / f"prometheus-{PROMETHEUS_VERSION}-kubernetes-sd" / "bin"


def tool(name: str) -> Path | None:
    """The path of a built tool (`promtool`, `prometheus`), or None when it is not built."""
    path = prometheus_bin_dir() / name
    return path if os.access(path, os.X_OK) else None


def argocd_dir() -> Path:
    """Argo CD's multi-call binary (`bin/argocd`), its image's `scripts/` and its core install manifest
    (`core-install.yaml`: controller, repo-server, ApplicationSet controller, Redis; no API server or UI). May not be
    built yet."""
    return cache_root() / f"argo-cd-{ARGO_CD_VERSION}-build"


def crds(folder: Path) -> list[Path]:
    """The CRD manifests in a fetched folder, sorted; empty when not fetched."""
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def _go(*args: str, cwd: Path, toolchain: str = "local") -> str:
    environment = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOWORK": "off", "GOTOOLCHAIN": toolchain}
    result = subprocess.run(["go", *args], cwd=cwd, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"ci-tools: go {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def _module_dir(module: str, version: str, work: Path, toolchain: str = "local") -> Path:
    """Download a module version into the Go module cache; its (read-only) folder there."""
    info = json.loads(_go("mod", "download", "-json", f"{module}@{version}", cwd=work, toolchain=toolchain))
    return Path(info["Dir"])


def fetch_argocd_crds(out: Path, work: Path) -> None:
    source = _module_dir(ARGO_CD_MODULE, ARGO_CD_VERSION, work, toolchain=ARGO_CD_TOOLCHAIN) / "manifests" / "crds"
    for name in ("application-crd.yaml", "applicationset-crd.yaml", "appproject-crd.yaml"):
        shutil.copyfile(source / name, out / name)


def fetch_prometheus_operator_crds(out: Path, work: Path) -> None:
    module = _module_dir(PROMETHEUS_OPERATOR_MODULE, PROMETHEUS_OPERATOR_VERSION, work)
    for path in sorted((module / "example" / "prometheus-operator-crd").glob("monitoring.coreos.com_*.yaml")):
        shutil.copyfile(path, out / path.name)


def build_prometheus(out: Path, work: Path) -> None:
    folder = work / "prometheus"
    folder.mkdir()
    (folder / "go.mod").write_text(
        f"module bosun.local/ci-tools\n\ngo 1.26\n\nrequire {PROMETHEUS_MODULE} {PROMETHEUS_VERSION}\n"
    )
    commands = [f"{PROMETHEUS_MODULE}/cmd/promtool", f"{PROMETHEUS_MODULE}/cmd/prometheus"]
    _go("get", *(f"{c}@{PROMETHEUS_VERSION}" for c in commands), cwd=folder)
    # What `promtool --version` and the server's build info report.
    flags = f"-s -w -X github.com/prometheus/common/version.Version={PROMETHEUS_RELEASE}"
    # remove_all_sd leaves out the cloud service-discovery plugins (AWS, Azure, GCE, ...), whose SDKs are most of
    # the compile time; enable_kubernetes_sd keeps the one the end-to-end tests use.
    _go("build", "-trimpath", "-tags", PROMETHEUS_TAGS, "-ldflags", flags, "-o", str(out) + "/", *commands, cwd=folder)


def _argocd_replaces(gomod: str) -> str:
    """Argo CD's own `replace` block, with its local gitops-engine folder pointed at the module published with it."""
    blocks = re.findall(r"^replace \(\n(.*?)^\)", gomod, re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines() if "=>" in line and "./" not in line]
    lines.append(
        f"\t{ARGO_CD_MODULE.rsplit('/', 1)[0]}/gitops-engine/v3 => "
        f"{ARGO_CD_MODULE.rsplit('/', 1)[0]}/gitops-engine/v3 {ARGO_CD_VERSION}"
    )
    return "replace (\n" + "\n".join(lines) + "\n)\n"


def build_argocd(out: Path, work: Path) -> None:
    module = _module_dir(ARGO_CD_MODULE, ARGO_CD_VERSION, work, toolchain=ARGO_CD_TOOLCHAIN)
    gomod = (module / "go.mod").read_text()
    go_directive = re.search(r"^go (\S+)", gomod, re.M)
    folder = work / "argocd"
    folder.mkdir()
    (folder / "go.mod").write_text(
        f"module bosun.local/argocd\n\ngo {go_directive.group(1) if go_directive else '1.27'}\n\n"
        f"require {ARGO_CD_MODULE} {ARGO_CD_VERSION}\n\n{_argocd_replaces(gomod)}"
    )
    command = f"{ARGO_CD_MODULE}/cmd"
    _go("get", f"{command}@{ARGO_CD_VERSION}", cwd=folder, toolchain=ARGO_CD_TOOLCHAIN)
    # What `argocd version` reports (without it the binary calls itself v99.99.99).
    flags = f"-s -w -X {ARGO_CD_MODULE}/common.version={ARGO_CD_VERSION.lstrip('v')}"
    (out / "bin").mkdir()
    _go(
        "build",
        "-trimpath",
        "-ldflags",
        flags,
        "-o",
        str(out / "bin" / "argocd"),
        command,
        cwd=folder,
        toolchain=ARGO_CD_TOOLCHAIN,
    )
    shutil.copyfile(module / "manifests" / "core-install.yaml", out / "core-install.yaml")
    # The scripts Argo CD's image carries beside the binary (its Dockerfile copies them from the source tree).
    (out / "scripts").mkdir()
    for script in ARGOCD_SCRIPTS:
        shutil.copyfile(module / script, out / "scripts" / Path(script).name)


def _steps() -> list[tuple[str, Callable[[Path, Path], None], Path]]:
    return [
        (f"Argo CD {ARGO_CD_VERSION} CRDs", fetch_argocd_crds, argocd_crds_dir()),
        (
            f"Prometheus Operator {PROMETHEUS_OPERATOR_VERSION} CRDs",
            fetch_prometheus_operator_crds,
            prometheus_operator_crds_dir(),
        ),
        (f"promtool and prometheus {PROMETHEUS_VERSION}", build_prometheus, prometheus_bin_dir()),
        (f"Argo CD {ARGO_CD_VERSION}", build_argocd, argocd_dir()),
    ]


def main() -> None:
    for name, step, folder in _steps():
        if folder.is_dir() and any(folder.iterdir()):
            continue
        if shutil.which("go") is None:
            raise SystemExit("ci-tools: the Go toolchain is needed to fetch and build the CI tools")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="bosun-ci-tools-") as tmp:
            work, out = Path(tmp), Path(tmp) / "out"
            out.mkdir()
            step(out, work)
            # Copy next to the cache folder, then rename: a half-copied folder never counts as built.
            partial = folder.with_name(folder.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(out, partial)
            partial.replace(folder)
        print(f"ci-tools: {name} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    print(cache_root())


if __name__ == "__main__":
    main()
