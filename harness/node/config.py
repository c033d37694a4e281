"""The node's configuration files, as pure functions of where things are (no I/O: tested with plain values).

Addresses: the cluster lives on a bridge it creates itself (`BRIDGE`, `NODE_IP`); pods get addresses in `POD_CIDR`
on that bridge, Services in `SERVICE_CIDR`. Nothing binds the machine's outward interface.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

BRIDGE = "bosun0"
NODE_IP = "10.244.0.1"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
NODE_NAME = "bosun-node"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
POSTGRES_PORT = 5432
GIT_PORT = 9418  # git daemon's own port: the node's Git server for Argo CD (`poe gitops`)
# The pod sandbox image: our own pause program (no registry serves the usual one here).
PAUSE_IMAGE = "localhost/bosun-pause:1"
# Debian installs the CNI plugins here rather than in /opt/cni/bin.
CNI_BIN_DIR = Path("/usr/lib/cni")


@dataclass(frozen=True)
class Layout:
    """Where one cluster keeps its state: everything below one folder."""

    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def git(self) -> Path:
        """The repositories the node's Git server serves, one bare repository per folder."""
        return self.root / "git"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def kubeconfig(self, component: str) -> Path:
        return self.root / f"{component}.kubeconfig"

    def config(self, name: str) -> Path:
        return self.root / "config" / name

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"


def containerd_config(layout: Layout) -> str:
    """containerd with its CRI plugin, all state under the layout (the machine's own containerd is left alone)."""
    base = layout.containerd
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{base / "root"}"
state = "{base / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{layout.containerd_socket}"
[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{base / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # Without CAP_SYS_RESOURCE a sandbox's negative oom_score_adj is refused ("can't get final child's PID").
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{base / "runc"}"
  [{cri}.cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{layout.cni_conf_dir}"
"""


def cni_config(layout: Layout) -> str:
    """Pods on the cluster's own bridge; no masquerading, so their traffic never leaves this machine's addresses."""
    bridge = {
        "type": "bridge",
        "bridge": BRIDGE,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
            # Service addresses are reached through the node (kube-proxy's rules); the guard stops the rest there.
            "routes": [{"dst": "0.0.0.0/0"}],
            "dataDir": str(layout.root / "cni" / "ipam"),
        },
    }
    return json.dumps({"cniVersion": "1.0.0", "name": "bosun", "plugins": [bridge]}, indent=2)


def kubelet_config(layout: Layout, healthz_port: int) -> str:
    """What a kubelet needs on this kind of machine (cgroup v1 hierarchy, swap on, no systemd)."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        # The cgroup hierarchy here is v1 (with a v2 mount beside it), managed without systemd.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [NODE_IP],
        # Pods get cluster DNS only, not this machine's search domains.
        "resolvConf": str(layout.config("resolv.conf")),
        "podLogsDir": str(layout.root / "pod-logs"),
        # The images were imported, not pulled: garbage-collecting them would lose them for good.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
        "serializeImagePulls": False,
        "shutdownGracePeriod": "0s",
    }
    return yaml.safe_dump(config, sort_keys=False)


def kube_proxy_config(layout: Layout, healthz_port: int, metrics_port: int) -> str:
    """iptables mode; Services reachable from pods and from the node; node ports only on the bridge."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(layout.kubeconfig("kube-proxy"))},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clusterCIDR": POD_CIDR,
        "mode": "iptables",
        # Pod -> Service -> pod on the same bridge: the reply must come back through the node to be un-NATed.
        "iptables": {"masqueradeAll": True},
        "nodePortAddresses": [f"{NODE_IP}/32"],
        # 0: leave the machine's conntrack settings as they are (they may not be writable here).
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }
    return yaml.safe_dump(config, sort_keys=False)


def corefile(layout: Layout, health_port: int, ready_port: int) -> str:
    """Cluster DNS on the node's bridge address, answering from the API (Services, pods)."""
    return f""".:53 {{
    bind {NODE_IP}
    ready 127.0.0.1:{ready_port}
    health 127.0.0.1:{health_port}
    errors
    cache 5
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {layout.kubeconfig("coredns")}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
}}
"""


def apiserver_args(layout: Layout, etcd_url: str) -> list[str]:
    pki = layout.pki
    return [
        f"--etcd-servers={etcd_url}",
        f"--bind-address={NODE_IP}",
        f"--advertise-address={NODE_IP}",
        f"--secure-port={APISERVER_PORT}",
        f"--cert-dir={pki / 'apiserver'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--kubelet-client-certificate={pki / 'kube-apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'kube-apiserver-kubelet-client.key'}",
        # `kubectl logs` reaches the kubelet by the node's address (there is no DNS name for the node).
        "--kubelet-preferred-address-types=InternalIP",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--v=1",
    ]


def _control_component_args(layout: Layout, component: str, port: int) -> list[str]:
    """What the controller-manager and the scheduler share: their identity, serving on loopback, no election."""
    kubeconfig = layout.kubeconfig(component)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--leader-elect=false",  # one of each
        "--v=1",
    ]


def controller_manager_args(layout: Layout, port: int) -> list[str]:
    return [
        *_control_component_args(layout, "kube-controller-manager", port),
        # One identity per controller (the RBAC bootstrap roles are written for that).
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={layout.pki / 'sa.key'}",
        # Published in every namespace as kube-root-ca.crt: the CA pods' projected tokens come with.
        f"--root-ca-file={layout.pki / 'ca.crt'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
    ]


def scheduler_args(layout: Layout, port: int) -> list[str]:
    return _control_component_args(layout, "kube-scheduler", port)


def kubelet_args(layout: Layout) -> list[str]:
    return [
        f"--config={layout.config('kubelet.yaml')}",
        f"--kubeconfig={layout.kubeconfig('kubelet')}",
        f"--root-dir={layout.kubelet}",
        f"--cert-dir={layout.pki / 'kubelet'}",
        f"--hostname-override={NODE_NAME}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]


# Identities (client certificates): the user each component acts as, and its groups. The built-in RBAC bootstrap
# roles know the Kubernetes ones; CoreDNS gets a role of its own at start.
IDENTITIES = {
    "admin": ("bosun-admin", ("system:masters",)),
    "kube-apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ("system:masters",)),
    "kube-controller-manager": ("system:kube-controller-manager", ()),
    "kube-scheduler": ("system:kube-scheduler", ()),
    "kubelet": (f"system:node:{NODE_NAME}", ("system:nodes",)),
    "kube-proxy": ("system:kube-proxy", ()),
    "coredns": ("bosun:coredns", ()),
}

COREDNS_RBAC = """apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: bosun:coredns
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: bosun:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: bosun:coredns
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: bosun:coredns
"""


def git_base_url() -> str:
    """Where pods (and the node) reach the node's Git server; a repository is `<this>/<folder name>`."""
    return f"git://{NODE_IP}:{GIT_PORT}"


def git_daemon_args(layout: Layout) -> list[str]:
    """A read-only Git server (fetch only, no push) on the node address, as `nobody`, for every repository below
    `layout.git`. `safe.directory`: the repositories belong to root, the server reads them as nobody."""
    return [
        "git", "-c", "safe.directory=*", "daemon", f"--base-path={layout.git}", "--export-all", "--reuseaddr",
        f"--listen={NODE_IP}", f"--port={GIT_PORT}", "--user=nobody", "--group=nogroup", "--informative-errors",
        str(layout.git),
    ]  # fmt: skip
