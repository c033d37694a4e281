"""A real Kubernetes control plane for tests: etcd + kube-apiserver on loopback, no kubelet (the envtest approach).

Certificates, an admin identity (system:masters) and service-account keys are made here; authorization is RBAC.
"""

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.k8s_tools import built, tools_dir
from harness.ports import free_port
from harness.processes import stop

NOT_BUILT = "kubernetes binaries not built: run `uv run poe k8s-tools`"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_key(path: Path, key: rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def _cert(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool = False,
    sans: list[x509.GeneralName] | None = None,
    client: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if not ca:
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Certificates:
    ca: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_pub: Path


def certificates_in(folder: Path, admin: str = "admin") -> Certificates:
    """Where the files of a set of certificates are (made by `make_certificates`; the admin's may be another's)."""
    return Certificates(
        ca=folder / "ca.crt",
        ca_key=folder / "ca.key",
        serving_cert=folder / "apiserver.crt",
        serving_key=folder / "apiserver.key",
        admin_cert=folder / f"{admin}.crt",
        admin_key=folder / f"{admin}.key",
        sa_key=folder / "sa.key",
        sa_pub=folder / "sa.pub",
    )


def make_certificates(folder: Path, addresses: tuple[str, ...] = ("127.0.0.1", "10.0.0.1")) -> Certificates:
    """A CA, the apiserver's serving certificate (for `addresses`), an admin certificate, service-account keys."""
    ca_key = _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bosun-test-ca")])
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    serving_key = _key()
    sans: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.DNSName("kubernetes"),
        x509.DNSName("kubernetes.default"),
        x509.DNSName("kubernetes.default.svc"),
        x509.DNSName("kubernetes.default.svc.cluster.local"),
        *(x509.IPAddress(ipaddress.ip_address(address)) for address in addresses),
    ]
    serving = _cert(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), serving_key, ca_name, ca_key, sans=sans
    )
    admin_key = _key()
    admin_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
            x509.NameAttribute(NameOID.COMMON_NAME, "bosun-test-admin"),
        ]
    )
    admin = _cert(admin_name, admin_key, ca_name, ca_key, client=True)
    sa_key = _key()
    certs = certificates_in(folder)
    certs.ca.write_bytes(_pem(ca))
    _write_key(certs.ca_key, ca_key)
    certs.serving_cert.write_bytes(_pem(serving))
    _write_key(certs.serving_key, serving_key)
    certs.admin_cert.write_bytes(_pem(admin))
    _write_key(certs.admin_key, admin_key)
    _write_key(certs.sa_key, sa_key)
    certs.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return certs


def client_certificate(certs: Certificates, folder: Path, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """A client certificate of `certs`' CA naming a user (CN) and its groups (O); returns (certificate, key)."""
    ca = x509.load_pem_x509_certificate(certs.ca.read_bytes())
    ca_key = serialization.load_pem_private_key(certs.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, rsa.RSAPrivateKey)
    key = _key()
    name = x509.Name(
        [
            *(x509.NameAttribute(NameOID.ORGANIZATION_NAME, g) for g in groups),
            x509.NameAttribute(NameOID.COMMON_NAME, user),
        ]
    )
    stem = user.replace(":", "-")
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    cert_path.write_bytes(_pem(_cert(name, key, ca.subject, ca_key, client=True)))
    _write_key(key_path, key)
    return cert_path, key_path


@dataclass
class ControlPlane:
    """A running apiserver and what talks to it: a kubeconfig, kubectl and helm."""

    url: str
    kubeconfig: Path
    bin_dir: Path
    certs: Certificates

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.kubeconfig.parent / "helm-cache"),
            "HELM_CONFIG_HOME": str(self.kubeconfig.parent / "helm-config"),
            "HELM_DATA_HOME": str(self.kubeconfig.parent / "helm-data"),
        }

    def run(
        self, tool: str, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl or helm against this control plane."""
        result = subprocess.run(
            [str(self.bin_dir / tool), *args], env=self.env(), input=input, capture_output=True, text=True, timeout=300
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    def http(self) -> httpx.Client:
        """An HTTP client on the apiserver with the admin identity (for what kubectl would be too slow for)."""
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        context.load_cert_chain(str(self.certs.admin_cert), str(self.certs.admin_key))
        return httpx.Client(base_url=self.url, verify=context, timeout=30)

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, input=input, check=check)

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, check=check)

    def get_json(self, *args: str) -> dict[str, object]:
        document: dict[str, object] = json.loads(self.kubectl("get", *args, "-o", "json").stdout)
        return document

    def apply(self, manifest: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Server-side apply of a YAML document."""
        return self.kubectl(
            "apply", "--server-side", "--field-manager=bosun-tests", "-f", "-", *args, input=manifest, check=check
        )

    def kubeconfig_for(self, namespace: str, service_account: str) -> Path:
        """A kubeconfig with a token of this service account (TokenRequest), to act with exactly its RBAC."""
        token = self.kubectl("create", "token", service_account, "-n", namespace, "--duration=2h").stdout.strip()
        path = self.kubeconfig.parent / f"kubeconfig-{namespace}-{service_account}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {"name": "bosun-test", "cluster": {"server": self.url, "certificate-authority": str(self.certs.ca)}}
            ],
            "users": [{"name": service_account, "user": {"token": token}}],
            "contexts": [{"name": "sa", "context": {"cluster": "bosun-test", "user": service_account}}],
            "current-context": "sa",
        }
        path.write_text(json.dumps(config))
        return path

    def install_crds(self, *paths: Path) -> None:
        """Server-side apply CRD manifests (no size limit from a last-applied annotation); wait until Established."""
        names = []
        for path in paths:
            text = path.read_text()
            names += [doc["metadata"]["name"] for doc in yaml.safe_load_all(text) if doc]
            self.apply(text, "--force-conflicts")
        for name in names:
            self.wait_established(name)

    def wait_established(self, crd: str, timeout: float = 60) -> None:
        """Until the CRD is served (`kubectl wait` fails while a new CRD has no conditions yet)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.get_json("crd", crd).get("status") or {}
            conditions = status.get("conditions") or [] if isinstance(status, dict) else []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
            time.sleep(0.2)
        raise AssertionError(f"CRD {crd} not Established after {timeout}s")

    def ensure_namespace(self, name: str) -> None:
        """Create a namespace with a given name unless it exists."""
        self.apply(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")

    def create_namespace(self, prefix: str = "test", labels: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        label_lines = "".join(f'\n    {k}: "{v}"' for k, v in (labels or {}).items())
        self.apply(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n  labels:{label_lines or ' {}'}\n")
        return name


def write_kubeconfig(path: Path, url: str, ca: Path, cert: Path, key: Path, user: str = "admin") -> None:
    """A kubeconfig for one client-certificate identity."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bosun-test", "cluster": {"server": url, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "bosun-test", "context": {"cluster": "bosun-test", "user": user}}],
        "current-context": "bosun-test",
    }
    path.write_text(json.dumps(config, indent=2))


def wait_ready(url: str, certs: Certificates, processes: list[subprocess.Popen[bytes]], logs: Path) -> None:
    deadline = time.monotonic() + 120
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.admin_cert), str(certs.admin_key))
    client = httpx.Client(verify=context, timeout=5)
    with client:
        while time.monotonic() < deadline:
            for process in processes:
                if process.poll() is not None:
                    tail = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs.glob("*.log"))
                    raise RuntimeError(f"control plane process exited with {process.returncode}:\n{tail}")
            try:
                if client.get(f"{url}/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    raise RuntimeError("kube-apiserver did not become ready in 120 s")


@contextmanager
def control_plane() -> Iterator[ControlPlane]:
    """Start etcd and kube-apiserver on free loopback ports; tear both down afterwards."""
    if not built():
        raise RuntimeError(NOT_BUILT)
    bin_dir = tools_dir()
    folder = Path(tempfile.mkdtemp(prefix="bosun-k8s-"))
    certs = make_certificates(folder)
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_log = (folder / "etcd.log").open("wb")
    apiserver_log = (folder / "kube-apiserver.log").open("wb")
    processes: list[subprocess.Popen[bytes]] = []
    try:
        etcd = subprocess.Popen(
            [
                str(bin_dir / "etcd"),
                f"--data-dir={folder / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            stdout=etcd_log,
            stderr=subprocess.STDOUT,
        )
        processes.append(etcd)
        apiserver = subprocess.Popen(
            [
                str(bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={folder / 'certs'}",
                f"--tls-cert-file={certs.serving_cert}",
                f"--tls-private-key-file={certs.serving_key}",
                f"--client-ca-file={certs.ca}",
                "--authorization-mode=RBAC",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={certs.sa_pub}",
                f"--service-account-signing-key-file={certs.sa_key}",
                "--service-cluster-ip-range=10.0.0.0/24",
                "--allow-privileged=true",
                "--enable-priority-and-fairness=false",
                "--v=1",
            ],
            stdout=apiserver_log,
            stderr=subprocess.STDOUT,
        )
        processes.append(apiserver)
        url = f"https://127.0.0.1:{api_port}"
        wait_ready(url, certs, processes, folder)
        kubeconfig = folder / "kubeconfig"
        write_kubeconfig(kubeconfig, url, certs.ca, certs.admin_cert, certs.admin_key)
        yield ControlPlane(url=url, kubeconfig=kubeconfig, bin_dir=bin_dir, certs=certs)
    finally:
        for process in reversed(processes):
            stop(process, timeout=20)
        etcd_log.close()
        apiserver_log.close()
        shutil.rmtree(folder, ignore_errors=True)
