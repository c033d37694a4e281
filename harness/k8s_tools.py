"""Build (once) the Kubernetes test binaries into a cache outside the repo; print the folder that holds them.

    uv run poe k8s-tools

kube-apiserver and kubectl (and, for the single-node cluster of `poe cluster`, kubelet, kube-controller-manager,
kube-scheduler and kube-proxy) come from k8s.io/kubernetes through a wrapper go.mod that replaces every k8s.io/*
staging module with its published v0.X.Y; etcd from go.etcd.io/etcd/server/v3 the same way (its go.mod points
at sibling folders); helm with `go build` of helm.sh/helm/v4/cmd/helm; cluster DNS is CoreDNS from its module,
with only the plugins the cluster uses; the pod sandbox's pause program from `harness/pause.go`. The machine's Go
toolchain and the Go module proxy are all it needs. A warm cache answers in well under a second.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

# The one place the versions are pinned.
KUBERNETES_VERSION = "v1.34.4"
ETCD_VERSION = "v3.6.16"
HELM_VERSION = "v4.3.1"
COREDNS_VERSION = "v1.14.7"

BINARIES = ("kube-apiserver", "kubectl", "etcd", "helm")
NODE_BINARIES = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy", "coredns", "pause")
CONTROL_PLANE = ("kube-apiserver", "kubectl")
NODE_KUBERNETES = ("kubelet", "kube-controller-manager", "kube-scheduler", "kube-proxy")
PAUSE_SOURCE = Path(__file__).with_name("pause.go")
# CoreDNS as a library with the plugins the cluster's DNS uses, in CoreDNS's own order (its `plugin.cfg`). No
# `forward`: pods resolve cluster names only (they reach nothing outside this machine).
COREDNS_PLUGINS = ("bind", "ready", "health", "errors", "cache", "kubernetes")
COREDNS_MAIN = """package main

import (
\t"github.com/coredns/coredns/core/dnsserver"
\t"github.com/coredns/coredns/coremain"
{imports}
)

func init() {{ dnsserver.Directives = []string{{{directives}}} }}

func main() {{ coremain.Run() }}
"""


def cache_root() -> Path:
    base = os.environ.get("BOSUN_K8S_TOOLS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "bosun", "k8s-tools"
    )
    return Path(base)


def tools_dir() -> Path:
    """Where this set of versions lives (it may not be built yet)."""
    key = f"kubernetes-{KUBERNETES_VERSION}_etcd-{ETCD_VERSION}_helm-{HELM_VERSION}"
    return cache_root() / key / "bin"


def built(names: tuple[str, ...] = BINARIES) -> bool:
    folder = tools_dir()
    return all(os.access(folder / name, os.X_OK) for name in names)


def node_built() -> bool:
    """Whether the binaries of a real node (kubelet and the controllers, CoreDNS, pause) are there too."""
    return built(BINARIES + NODE_BINARIES)


def _go(*args: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    environment = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod", "GOWORK": "off", **(env or {})}
    result = subprocess.run(["go", *args], cwd=cwd, env=environment, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"k8s-tools: go {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def _module_gomod(module: str, version: str, cwd: Path) -> str:
    """The go.mod text of a published module version."""
    path = _go("mod", "download", "-json", f"{module}@{version}", cwd=cwd)
    match = re.search(r'"GoMod":\s*"([^"]+)"', path)
    if not match:
        raise SystemExit(f"k8s-tools: cannot read the go.mod of {module}@{version}")
    return Path(match.group(1)).read_text()


def _wrapper(workdir: Path, go_version: str, require: str, replaces: dict[str, str]) -> None:
    lines = [f"module bosun.local/k8s-tools\n\ngo {go_version}\n\nrequire {require}\n\nreplace ("]
    lines += [f"\t{module} => {module} {version}" for module, version in sorted(replaces.items())]
    lines.append(")\n")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "go.mod").write_text("\n".join(lines))


def _go_directive(gomod: str) -> str:
    match = re.search(r"^go (\S+)", gomod, re.M)
    return match.group(1) if match else "1.24"


def build_kubernetes(out: Path, work: Path, names: tuple[str, ...]) -> None:
    gomod = _module_gomod("k8s.io/kubernetes", KUBERNETES_VERSION, work)
    staging = re.findall(r"^\s*(k8s\.io/\S+)\s+=>\s+\./staging/src/\S+", gomod, re.M)
    minor = KUBERNETES_VERSION.split(".")[1]
    published = "v0." + ".".join(KUBERNETES_VERSION.lstrip("v").split(".")[1:])
    folder = work / "kubernetes"
    _wrapper(folder, _go_directive(gomod), f"k8s.io/kubernetes {KUBERNETES_VERSION}", dict.fromkeys(staging, published))
    commands = [f"k8s.io/kubernetes/cmd/{name}" for name in names]
    _go("get", *(f"{c}@{KUBERNETES_VERSION}" for c in commands), cwd=folder)
    version_flags = " ".join(
        f"-X {pkg}.{name}={value}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for name, value in (("gitVersion", KUBERNETES_VERSION), ("gitMajor", "1"), ("gitMinor", minor))
    )
    _go("build", "-trimpath", "-ldflags", f"-s -w {version_flags}", "-o", str(out) + "/", *commands, cwd=folder)
    print(f"k8s-tools: {len(staging)} staging modules replaced with {published}", file=sys.stderr)


def build_etcd(out: Path, work: Path) -> None:
    gomod = _module_gomod("go.etcd.io/etcd/server/v3", ETCD_VERSION, work)
    siblings = re.findall(r"^\s*(go\.etcd\.io/etcd/\S+)\s+=>\s+\.\./\S+", gomod, re.M)
    folder = work / "etcd"
    _wrapper(
        folder, _go_directive(gomod), f"go.etcd.io/etcd/server/v3 {ETCD_VERSION}", dict.fromkeys(siblings, ETCD_VERSION)
    )
    _go("get", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}", cwd=folder)
    _go("build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), "go.etcd.io/etcd/server/v3", cwd=folder)


def build_helm(out: Path, work: Path) -> None:
    folder = work / "helm"
    _wrapper(folder, "1.24", f"helm.sh/helm/v4 {HELM_VERSION}", {})
    _go("get", f"helm.sh/helm/v4/cmd/helm@{HELM_VERSION}", cwd=folder)
    flags = f"-s -w -X helm.sh/helm/v4/internal/version.version={HELM_VERSION}"
    _go("build", "-trimpath", "-ldflags", flags, "-o", str(out / "helm"), "helm.sh/helm/v4/cmd/helm", cwd=folder)


def build_coredns(out: Path, work: Path) -> None:
    gomod = _module_gomod("github.com/coredns/coredns", COREDNS_VERSION, work)
    folder = work / "coredns"
    _wrapper(folder, _go_directive(gomod), f"github.com/coredns/coredns {COREDNS_VERSION}", {})
    imports = "\n".join(f'\t_ "github.com/coredns/coredns/plugin/{name}"' for name in COREDNS_PLUGINS)
    directives = ", ".join(f'"{name}"' for name in COREDNS_PLUGINS)
    (folder / "main.go").write_text(COREDNS_MAIN.format(imports=imports, directives=directives))
    _go("get", f"github.com/coredns/coredns@{COREDNS_VERSION}", cwd=folder)
    flags = f"-s -w -X github.com/coredns/coredns/coremain.GitCommit={COREDNS_VERSION}"
    _go("build", "-trimpath", "-ldflags", flags, "-o", str(out / "coredns"), ".", cwd=folder)


def build_pause(out: Path, work: Path) -> None:
    folder = work / "pause"
    folder.mkdir()
    shutil.copy(PAUSE_SOURCE, folder / "main.go")
    (folder / "go.mod").write_text("module bosun.local/pause\n\ngo 1.24\n")
    _go("build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "pause"), ".", cwd=folder)


def main() -> None:
    folder = tools_dir()
    if node_built():
        print(folder)
        return
    if shutil.which("go") is None:
        raise SystemExit("k8s-tools: the Go toolchain is needed to build the Kubernetes test binaries")
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bosun-k8s-build-") as tmp:
        work, out = Path(tmp), Path(tmp) / "out"
        out.mkdir()
        for name, build, outputs in (
            ("etcd", build_etcd, ("etcd",)),
            ("helm", build_helm, ("helm",)),
            ("kube-apiserver and kubectl", partial(build_kubernetes, names=CONTROL_PLANE), CONTROL_PLANE),
            ("the node's Kubernetes binaries", partial(build_kubernetes, names=NODE_KUBERNETES), NODE_KUBERNETES),
            ("coredns", build_coredns, ("coredns",)),
            ("pause", build_pause, ("pause",)),
        ):
            if all(os.access(folder / o, os.X_OK) for o in outputs):
                continue
            started = time.monotonic()
            build(out, work)
            for output in outputs:  # only whole binaries reach the cache
                shutil.move(out / output, folder / output)
            print(f"k8s-tools: built {name} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    print(folder)


if __name__ == "__main__":
    main()
