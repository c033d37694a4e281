"""Start, inspect and stop the single-node cluster: `python -m harness.node up | status | down`.

One folder holds everything (`state_dir()`); `state.json` in it names each process the cluster started (PID and
start time, so a reused PID is never taken for ours). `down` stops only those, then removes what they left: pods'
containers, mounts below the folder, the bridge, the iptables rules of the cluster's chains, its cgroups.
"""

import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

from harness.control_plane import ControlPlane, certificates_in, client_certificate, make_certificates, write_kubeconfig
from harness.k8s_tools import node_built, tools_dir
from harness.node import config, containerd, network
from harness.node.config import APISERVER_PORT, IDENTITIES, KUBERNETES_SERVICE_IP, NODE_IP, NODE_NAME, Layout
from harness.node.postgres import ClusterPostgres
from harness.node.postgres import create_app_role as create_postgres_role
from harness.node.postgres import initialise as initialise_postgres
from harness.node.postgres import start as start_postgres
from harness.ports import free_port

# The order parts start in; `down` stops them in reverse.
PARTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "coredns",
    "containerd",
    "kubelet",
    "kube-proxy",
    "postgres",
    "git-daemon",
)
SYSTEM_COMMANDS = ("git", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables", "iptables-save")
CNI_PLUGINS = ("bridge", "host-local", "loopback")


START_TIME_TOLERANCE = 2.0  # seconds; a reused PID starts much later than the process it replaces


class ClusterError(RuntimeError):
    """One line naming the part that failed (and its log file)."""


def state_dir() -> Path:
    return Path(os.environ.get("BOSUN_CLUSTER_DIR") or Path(tempfile.gettempdir()) / "bosun-cluster")


def missing_requirements() -> list[str]:
    """What this machine lacks for a real node (empty: it can run one)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (containerd, mounts and iptables need it)")
    if not node_built():
        missing.append("the node's binaries (run `uv run poe k8s-tools`)")
    missing += [f"`{name}` (Debian package)" for name in SYSTEM_COMMANDS if shutil.which(name) is None]
    missing += [
        f"the CNI plugin `{name}` (containernetworking-plugins)"
        for name in CNI_PLUGINS
        if not (config.CNI_BIN_DIR / name).exists()
    ]
    return missing


@dataclass(frozen=True)
class Process:
    name: str
    pid: int
    started: float  # psutil's create_time, so a reused PID is not mistaken for ours

    def alive(self) -> bool:
        try:
            process = psutil.Process(self.pid)
            # create_time derives from the boot time, which clock adjustments move by a little.
            same = abs(process.create_time() - self.started) < START_TIME_TOLERANCE
            return same and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


@dataclass
class State:
    layout: Layout
    processes: dict[str, Process]
    ip_forward: str

    @property
    def file(self) -> Path:
        return self.layout.root / "state.json"

    def save(self) -> None:
        document = {
            "processes": {name: [p.pid, p.started] for name, p in self.processes.items()},
            "ip_forward": self.ip_forward,
        }
        self.file.write_text(json.dumps(document, indent=2))

    @classmethod
    def load(cls, layout: Layout) -> "State | None":
        try:
            document = json.loads((layout.root / "state.json").read_text())
        except FileNotFoundError:
            return None
        processes = {name: Process(name, pid, started) for name, (pid, started) in document["processes"].items()}
        return cls(layout, processes, document["ip_forward"])


@dataclass(frozen=True)
class Cluster:
    """A running cluster, as the tests and `poe images` use it."""

    layout: Layout

    @property
    def plane(self) -> ControlPlane:
        # The admin identity's files are named after its user (config.IDENTITIES), like every component's.
        certs = certificates_in(self.layout.pki, admin=IDENTITIES["admin"][0])
        return ControlPlane(
            url=f"https://{NODE_IP}:{APISERVER_PORT}",
            kubeconfig=self.layout.admin_kubeconfig,
            bin_dir=tools_dir(),
            certs=certs,
        )

    @property
    def postgres(self) -> ClusterPostgres:
        return ClusterPostgres(self.layout.root / "postgres")

    def import_image(self, archive: Path, reference: str) -> None:
        containerd.import_archive(self.layout, archive, reference)

    def images(self) -> set[str]:
        return containerd.images(self.layout)

    def tag_image(self, source: str, target: str) -> None:
        containerd.tag(self.layout, source, target)


def running() -> Cluster | None:
    """The cluster that is up on this machine, if every part of it runs."""
    layout = Layout(state_dir())
    state = State.load(layout)
    if state is None or not set(PARTS) <= state.processes.keys():  # also a cluster from before a part was added
        return None
    if not all(p.alive() for p in state.processes.values()):
        return None
    return Cluster(layout)


@contextmanager
def _locked(layout: Layout) -> Iterator[None]:
    """One `up` or `down` at a time on a state folder."""
    layout.root.parent.mkdir(parents=True, exist_ok=True)
    lock = layout.root.parent / f".{layout.root.name}.lock"
    with lock.open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ClusterError(f"cluster: another `up` or `down` is running on {layout.root}") from None
        yield


def _spawn(layout: Layout, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    with layout.log(name).open("ab") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # the cluster outlives the `up` command
            cwd=layout.root,
        )


def _record(state: State, name: str, process: subprocess.Popen[bytes]) -> None:
    state.processes[name] = Process(name, process.pid, psutil.Process(process.pid).create_time())
    state.save()


def _wait(
    name: str, layout: Layout, check: Callable[[], bool], process: subprocess.Popen[bytes] | None, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ClusterError(f"cluster: {name} exited with {process.returncode} (log: {layout.log(name)})")
        try:
            if check():
                return
        except (OSError, httpx.HTTPError, subprocess.SubprocessError):
            pass
        time.sleep(0.3)
    raise ClusterError(f"cluster: {name} not ready after {timeout:.0f}s (log: {layout.log(name)})")


def _http_ok(url: str, **kwargs: object) -> bool:
    return httpx.get(url, timeout=2, **kwargs).status_code == 200  # type: ignore[arg-type]


def _listening(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=2):
        return True


def _write_files(layout: Layout) -> dict[str, int]:
    for folder in (layout.logs, layout.pki, layout.containerd, layout.cni_conf_dir, layout.kubelet, layout.config("")):
        folder.mkdir(parents=True, exist_ok=True)
    layout.root.chmod(0o755)  # PostgreSQL runs as nobody below it
    layout.pki.chmod(0o700)
    certs = make_certificates(layout.pki, addresses=("127.0.0.1", NODE_IP, KUBERNETES_SERVICE_IP))
    url = f"https://{NODE_IP}:{APISERVER_PORT}"
    for component, (user, groups) in IDENTITIES.items():
        cert, key = client_certificate(certs, layout.pki, user, groups)
        target = layout.admin_kubeconfig if component == "admin" else layout.kubeconfig(component)
        write_kubeconfig(target, url, certs.ca, cert, key, user=user)
    ports = {name: free_port() for name in ("etcd", "etcd-peer", "kcm", "scheduler", "kubelet-healthz",
                                             "proxy-healthz", "proxy-metrics", "dns-health", "dns-ready")}  # fmt: skip
    layout.config("containerd.toml").write_text(config.containerd_config(layout))
    (layout.cni_conf_dir / "10-bosun.conflist").write_text(config.cni_config(layout))
    layout.config("kubelet.yaml").write_text(config.kubelet_config(layout, ports["kubelet-healthz"]))
    layout.config("kube-proxy.yaml").write_text(
        config.kube_proxy_config(layout, ports["proxy-healthz"], ports["proxy-metrics"])
    )
    layout.config("Corefile").write_text(config.corefile(layout, ports["dns-health"], ports["dns-ready"]))
    layout.config("resolv.conf").write_text(f"nameserver {NODE_IP}\n")
    return ports


def up() -> Cluster:
    """Start the cluster (or find it already up); returns it."""
    layout = Layout(state_dir())
    with _locked(layout):
        state = State.load(layout)
        if state is not None:
            dead = [p.name for p in state.processes.values() if not p.alive()]
            if not dead:
                return Cluster(layout)
            raise ClusterError(
                f"cluster: {dead[0]} is not running (log: {layout.log(dead[0])}); run `uv run poe cluster down` first"
            )
        missing = missing_requirements()
        if missing:
            raise ClusterError("cluster: this machine lacks " + ", ".join(missing))
        if layout.root.is_symlink() or (layout.root.exists() and layout.root.stat().st_uid != os.geteuid()):
            raise ClusterError(f"cluster: {layout.root} is a link or someone else's: refusing to keep keys there")
        layout.root.mkdir(parents=True, exist_ok=True)
        state = State(layout, {}, network.ip_forward())
        state.save()
        try:
            _start(layout, state)
        except BaseException:
            # What failed to start is the error to report; the folder keeps the logs for `down`.
            with contextlib.suppress(ClusterError):
                _stop(layout)
            raise
        return Cluster(layout)


def _start(layout: Layout, state: State) -> None:
    bins = tools_dir()
    ports = _write_files(layout)
    network.create_bridge()
    network.install_guard()
    network.set_ip_forward("1")  # Services: pod -> node -> pod; the guard keeps pods' packets on the bridge

    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer = f"http://127.0.0.1:{ports['etcd-peer']}"
    process = _spawn(layout, "etcd", [
        str(bins / "etcd"), f"--data-dir={layout.root / 'etcd'}", f"--listen-client-urls={etcd_url}",
        f"--advertise-client-urls={etcd_url}", f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=default={peer}", "--unsafe-no-fsync=true", "--log-level=warn",
    ])  # fmt: skip
    _record(state, "etcd", process)
    _wait("etcd", layout, lambda: _http_ok(f"{etcd_url}/health"), process, 60)

    process = _spawn(layout, "kube-apiserver", [str(bins / "kube-apiserver"), *config.apiserver_args(layout, etcd_url)])
    _record(state, "kube-apiserver", process)
    plane = Cluster(layout).plane
    verify = plane.http  # admin identity over the cluster's CA

    def apiserver_ready() -> bool:
        with verify() as api:
            return api.get("/readyz").status_code == 200

    _wait("kube-apiserver", layout, apiserver_ready, process, 120)
    plane.apply(config.COREDNS_RBAC)

    for name, argv in (
        ("kube-controller-manager", config.controller_manager_args(layout, ports["kcm"])),
        ("kube-scheduler", config.scheduler_args(layout, ports["scheduler"])),
    ):
        process = _spawn(layout, name, [str(bins / name), *argv])
        _record(state, name, process)
    process = _spawn(layout, "coredns", [str(bins / "coredns"), "-conf", str(layout.config("Corefile"))])
    _record(state, "coredns", process)

    process = _spawn(layout, "containerd", ["containerd", "--config", str(layout.config("containerd.toml"))])
    _record(state, "containerd", process)
    _wait("containerd", layout, lambda: containerd.ctr(layout, "version").returncode == 0, process, 60)
    containerd.import_pause(layout, bins / "pause")

    process = _spawn(layout, "kubelet", [str(bins / "kubelet"), *config.kubelet_args(layout)])
    _record(state, "kubelet", process)
    process = _spawn(layout, "kube-proxy", [str(bins / "kube-proxy"), f"--config={layout.config('kube-proxy.yaml')}"])
    _record(state, "kube-proxy", process)

    postgres = Cluster(layout).postgres
    initialise_postgres(postgres)
    process = start_postgres(postgres, layout.log("postgres"))
    _record(state, "postgres", process)
    create_postgres_role(postgres)

    layout.git.mkdir(exist_ok=True)
    process = _spawn(layout, "git-daemon", config.git_daemon_args(layout))
    _record(state, "git-daemon", process)
    _wait("git-daemon", layout, lambda: _listening(NODE_IP, config.GIT_PORT), process, 30)

    def node_ready() -> bool:
        found = plane.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if found.returncode != 0:
            return False
        conditions = json.loads(found.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    _wait("kubelet", layout, node_ready, None, 180)
    _wait("coredns", layout, lambda: _http_ok(f"http://127.0.0.1:{ports['dns-ready']}/ready"), None, 60)
    _wait("kube-proxy", layout, lambda: _http_ok(f"http://127.0.0.1:{ports['proxy-healthz']}/healthz"), None, 60)
    # Pods need their namespace's `default` ServiceAccount and the kube-root-ca.crt ConfigMap (controller-manager).
    _wait("kube-controller-manager", layout, lambda: plane.kubectl("get", "serviceaccount", "default", "-n", "default",
                                                                  check=False).returncode == 0, None, 60)  # fmt: skip
    for part in state.processes.values():
        if not part.alive():
            raise ClusterError(f"cluster: {part.name} stopped during start-up (log: {layout.log(part.name)})")


def _stop(layout: Layout) -> None:
    """Stop what `up` started and remove what it made; every step runs, the first failure is reported after."""
    state = State.load(layout)
    if state is None:
        return  # no cluster was started from this folder: nothing here is ours to remove
    processes = state.processes
    plane = Cluster(layout).plane
    failures: list[str] = []

    def step(what: str, action: Callable[[], object]) -> None:
        try:
            action()
        except (OSError, RuntimeError, subprocess.SubprocessError, psutil.Error, AssertionError) as exc:
            failures.append(f"{what}: {exc}".splitlines()[0])

    def stop_part(name: str, timeout: float = 20) -> None:
        process = processes.get(name)
        if process is None or not process.alive():
            return
        handle = psutil.Process(process.pid)
        handle.terminate()
        try:
            handle.wait(timeout)
        except psutil.TimeoutExpired:
            handle.kill()
            handle.wait(10)

    def delete_pods() -> None:
        apiserver, kubelet = processes.get("kube-apiserver"), processes.get("kubelet")
        if not (apiserver and apiserver.alive() and kubelet and kubelet.alive()):
            return
        # The kubelet stops the pods' containers, unmounts their volumes and releases their addresses.
        plane.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=false", check=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = plane.kubectl("get", "pods", "-A", "-o", "name", check=False)
            if listed.returncode != 0 or not listed.stdout.strip():
                return
            time.sleep(1)

    def remove_containers() -> None:
        if processes.get("containerd") and processes["containerd"].alive():
            containerd.remove_containers(layout)

    def kube_proxy_cleanup() -> None:
        if (tools_dir() / "kube-proxy").exists():
            subprocess.run([str(tools_dir() / "kube-proxy"), "--cleanup"], capture_output=True, check=False)

    for name in ("kube-controller-manager", "kube-scheduler"):  # nothing recreates the pods deleted next
        step(f"stopping {name}", lambda name=name: stop_part(name))  # type: ignore[misc]
    step("deleting the pods", delete_pods)
    for name in ("kubelet", "kube-proxy", "coredns", "postgres", "git-daemon"):
        step(f"stopping {name}", lambda name=name: stop_part(name))  # type: ignore[misc]
    step("removing containers", remove_containers)
    step("stopping containerd", lambda: stop_part("containerd"))
    step("stopping containerd's shims", lambda: _kill_shims(layout))
    for name in ("kube-apiserver", "etcd"):
        step(f"stopping {name}", lambda name=name: stop_part(name))  # type: ignore[misc]
    step("unmounting", lambda: _unmount_below(layout.root))
    step("kube-proxy --cleanup", kube_proxy_cleanup)
    step("removing iptables rules", network.remove_rules)
    step("deleting the bridge", network.delete_bridge)
    step("restoring ip_forward", lambda: network.set_ip_forward(state.ip_forward))
    step("removing cgroups", _remove_cgroups)
    if failures:  # the folder (logs, state) stays for a second `down`
        raise ClusterError(f"cluster: down incomplete, {failures[0]} (and {len(failures) - 1} more)")
    shutil.rmtree(layout.root, ignore_errors=True)


def _kill_shims(layout: Layout) -> None:
    """containerd's shims outlive containerd; ours name our socket on their command line."""
    address = str(layout.containerd_socket)
    for process in psutil.process_iter(["name", "cmdline"]):
        if (
            process.info["name"]
            and process.info["name"].startswith("containerd-shim")
            and address in " ".join(process.info["cmdline"] or [])
        ):
            process.kill()


def _unmount_below(root: Path) -> None:
    """Every mount below the state folder (volumes, rootfs overlays, network namespaces), deepest first."""
    for _ in range(3):
        points = leftover_mounts(root)
        if not points:
            return
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def leftover_mounts(root: Path) -> list[str]:
    """The mount points below a folder."""
    prefix = str(root.resolve()) + "/"
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in mounts if line.split()[4].startswith(prefix)]


CGROUP_ROOT = Path("/sys/fs/cgroup")


def _remove_cgroups() -> None:
    """The kubelet's cgroups (`kubepods` in each hierarchy), once their processes are gone."""
    for top in CGROUP_ROOT.glob("*/kubepods"):
        for folder in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            _rmdir(folder)
        _rmdir(top)


def _rmdir(folder: Path) -> None:
    try:
        for pid in (folder / "cgroup.procs").read_text().split():
            psutil.Process(int(pid)).kill()
        folder.rmdir()
    except (OSError, psutil.Error):
        pass


def down() -> None:
    layout = Layout(state_dir())
    with _locked(layout):
        _stop(layout)


def status() -> list[str]:
    """One line per part: running or not, and where its log is."""
    layout = Layout(state_dir())
    state = State.load(layout)
    if state is None:
        return ["cluster: down"]
    lines = [
        f"{name}: {'running' if p.alive() else 'NOT RUNNING'} (pid {p.pid}, log {layout.log(name)})"
        for name, p in state.processes.items()
    ]
    cluster = running()
    if cluster is not None:
        nodes = cluster.plane.kubectl("get", "nodes", "--no-headers", check=False).stdout.strip()
        lines.append(f"node: {nodes or 'not registered'}")
        lines += summary(cluster)
    return lines


def summary(cluster: Cluster) -> list[str]:
    """The lines `up` ends with: what clients need."""
    return [
        f"KUBECONFIG={cluster.layout.admin_kubeconfig}",
        f"DATABASE_URL={cluster.postgres.app_url()}",
        f"GIT_BASE_URL={config.git_base_url()}",
    ]
