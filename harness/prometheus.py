"""A real Prometheus server for tests: scrapes loopback targets every second, evaluates rule files, answers PromQL."""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from harness.ci_tools import tool
from harness.control_plane import ControlPlane
from harness.ports import free_port
from harness.processes import stop

NOT_BUILT = "promtool/prometheus not built: run `uv run poe ci-tools`"


@dataclass
class ScrapeJob:
    """One scrape job: its targets (`host:port`) and the target labels Kubernetes discovery would add."""

    name: str
    targets: list[str]
    labels: dict[str, str] = field(default_factory=dict)
    honor_labels: bool = False


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector (raises with Prometheus' message when the query is refused)."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise AssertionError(f"query refused: {expr}\n{body.get('error')}")
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule with its health and last error."""
        groups = httpx.get(f"{self.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def targets(self) -> list[dict[str, Any]]:
        """The active scrape targets with their labels and health."""
        body = httpx.get(f"{self.url}/api/v1/targets", params={"state": "active"}, timeout=10).json()
        targets: list[dict[str, Any]] = body["data"]["activeTargets"]
        return targets


def _config(jobs: list[ScrapeJob], rule_files: list[Path], scrape_configs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job.name,
                "honor_labels": job.honor_labels,
                "static_configs": [{"targets": job.targets, "labels": job.labels}],
            }
            for job in jobs
        ]
        + scrape_configs,
    }


def kubernetes_pods_job(
    name: str, plane: ControlPlane, namespace: str, selector: str, honor_labels: bool = False
) -> dict[str, Any]:
    """A scrape job that discovers pods through the cluster's API and scrapes their port named `metrics`."""
    certs = plane.certs
    tls = {"ca_file": str(certs.ca), "cert_file": str(certs.admin_cert), "key_file": str(certs.admin_key)}
    return {
        "job_name": name,
        "honor_labels": honor_labels,
        "kubernetes_sd_configs": [
            {
                "role": "pod",
                "api_server": plane.url,
                "tls_config": tls,
                "namespaces": {"names": [namespace]},
                "selectors": [{"role": "pod", "label": selector}],
            }
        ],
        "relabel_configs": [
            {"source_labels": ["__meta_kubernetes_pod_container_port_name"], "regex": "metrics", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_pod_phase"], "regex": "Running", "action": "keep"},
            {"source_labels": ["__meta_kubernetes_namespace"], "target_label": "namespace"},
            {"source_labels": ["__meta_kubernetes_pod_name"], "target_label": "pod"},
        ],
    }


@contextmanager
def prometheus_server(
    workdir: Path,
    jobs: list[ScrapeJob],
    rule_files: list[Path] | None = None,
    scrape_configs: list[dict[str, Any]] | None = None,
) -> Iterator[Prometheus]:
    """Start Prometheus on a free loopback port with these scrape jobs and rule files; stop it afterwards."""
    binary = tool("prometheus")
    if binary is None:
        raise RuntimeError(NOT_BUILT)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(_config(jobs, rule_files or [], scrape_configs or [])))
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_ready(server)
        yield server
    finally:
        stop(process, timeout=20)


def _wait_ready(server: Prometheus, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {server.process.returncode}:\n{server.logs()}")
        try:
            if httpx.get(f"{server.url}/-/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"prometheus not ready after {timeout}s:\n{server.logs()}")
