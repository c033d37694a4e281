"""A real Prometheus scrapes the running service: every panel query of every dashboard returns data, and the charts'
alert rules load and evaluate without error against the real series.

Two gunicorn instances make one scrape job, as two pods would: one healthy, one whose database refuses
connections (so the 5xx panels have data). The operator is the real `bosun-operator` on a real apiserver, releasing
two AppReleases while Prometheus watches: one reaches Ready, the other's migration fails.
"""

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from app.core.migrations import upgrade
from harness.api import PASSWORD, make_settings
from harness.charts import BOSUN, OPERATOR, dashboard_files, expand, panel_queries, render, rule_groups
from harness.ci_tools import tool
from harness.cluster import cluster_controllers, image_with_revision, install_crd
from harness.control_plane import ControlPlane
from harness.gunicorn import Server, gunicorn_server
from harness.operator import operator_process
from harness.postgres import create_database, drop_database, libpq_url
from harness.prometheus import NOT_BUILT, Prometheus, ScrapeJob, prometheus_server
from harness.releases import apply, database_secret, phase, release, wait_for

SERVICE_JOB = "bosun-metrics"  # the metrics Service of release `bosun` (the ServiceMonitor's job label)
OPERATOR_JOB = "bosun-operator-metrics"
RATE_INTERVAL = "15s"  # $__rate_interval for a 1 s scrape interval
RANGE = "2m"
BROKEN_IMAGE = "registry.example.com/team/bosun:2.0.0-broken"  # its migration fails


def variables(dashboard: Path, namespace: str) -> dict[str, str]:
    """Grafana's variables: the service's panels watch namespace `bosun`, the releases dashboard the test's."""
    if dashboard.name == "releases.json":
        return {
            "$__rate_interval": RATE_INTERVAL,
            "$__range": RANGE,
            "$namespace": namespace,
            "$job": OPERATOR_JOB,
            "$release": ".*",
        }
    return {
        "$__rate_interval": RATE_INTERVAL,
        "$__range": RANGE,
        "$namespace": "bosun",
        "$job": SERVICE_JOB,
        "$release": "bosun",
    }


def target(server: Server) -> str:
    return server.metrics.removeprefix("http://").removesuffix("/metrics")


@pytest.fixture
def releases_database_url(admin_url: str) -> Iterator[str]:
    """The database the operator's migration Jobs migrate."""
    url = create_database(admin_url, prefix="bosun_releases")
    yield url
    drop_database(admin_url, url)


@pytest.fixture
def unreachable_database_url(admin_url: str) -> Iterator[str]:
    """A migrated database for a second instance; the test closes it to connections once that instance is up."""
    url = create_database(admin_url, prefix="bosun_down")
    upgrade(make_settings(url))
    yield url
    drop_database(admin_url, url)


def refuse_connections(admin_url: str, url: str) -> None:
    name = url.rsplit("/", 1)[-1].split("?")[0]
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def traffic(healthy: Server, failing: Server, stop: threading.Event) -> None:
    """Requests of every kind until stopped: 2xx, 4xx and (from the instance without a database) 5xx."""
    with httpx.Client(timeout=10) as client:
        client.post(f"{healthy.api}/api/v1/auth/signup", json={"email": "dash@example.com", "password": PASSWORD})
        token = client.post(
            f"{healthy.api}/api/v1/auth/token", data={"username": "dash@example.com", "password": PASSWORD}
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        team = client.post(f"{healthy.api}/api/v1/teams", json={"name": "Dashboards"}, headers=headers).json()
        while not stop.is_set():
            client.get(f"{healthy.api}/api/v1/teams", headers=headers)
            client.get(f"{healthy.api}/api/v1/projects", params={"team_id": team["id"]}, headers=headers)
            client.get(f"{healthy.api}/api/v1/users/me", headers=headers)
            client.get(f"{healthy.api}/api/v1/users/me")  # 401
            client.get(f"{healthy.api}/api/v1/nowhere")  # 404
            client.post(f"{failing.api}/api/v1/auth/signup", json={"email": "x@example.com", "password": PASSWORD})
            stop.wait(0.2)


def rule_files(folder: Path) -> list[Path]:
    """The charts' rules as the running service and operator would be watched by them."""
    enabled = ["--set", "metrics.prometheusRule.enabled=true"]
    files = []
    for name, chart, release_name, namespace in (
        ("bosun", BOSUN, "bosun", "bosun"),
        ("bosun-operator", OPERATOR, "bosun-operator", "bosun-system"),
    ):
        path = folder / f"{name}.rules.yaml"
        path.write_text(
            yaml.safe_dump({"groups": rule_groups(render(chart, *enabled, release=release_name, namespace=namespace))})
        )
        files.append(path)
    return files


def has_data(prometheus: Prometheus, query: str) -> bool:
    return any(not math.isnan(float(series["value"][1])) for series in prometheus.query(query))


@pytest.mark.k8s
@pytest.mark.usefixtures("clean_database")
def test_every_panel_query_returns_data(
    database_url: str,
    unreachable_database_url: str,
    releases_database_url: str,
    admin_url: str,
    kube: ControlPlane,
    namespace: str,
    tmp_path: Path,
) -> None:
    if tool("prometheus") is None:
        pytest.skip(NOT_BUILT)
    queries = {
        (path.name, expand(expr, variables(path, namespace)))
        for path in dashboard_files()
        for expr in panel_queries(path)
    }
    install_crd(kube)
    database_secret(kube, namespace, releases_database_url)
    broken = image_with_revision(tmp_path / "broken", "99990002", 'op.execute("ALTER TABLE no_such_table ADD x int")')
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    stop = threading.Event()
    with (
        gunicorn_server(database_url, tmp_path / "a", workers=1) as healthy,
        gunicorn_server(unreachable_database_url, tmp_path / "b", workers=1) as failing,
        cluster_controllers(kube, namespace, images={BROKEN_IMAGE: broken}),
        operator_process(kube, [namespace]) as operator,
        prometheus_server(
            tmp_path,
            [
                ScrapeJob(SERVICE_JOB, [target(healthy), target(failing)], {"namespace": "bosun"}),
                ScrapeJob(
                    OPERATOR_JOB,
                    [f"127.0.0.1:{operator.metrics_port}"],
                    {"namespace": "bosun-system"},
                    honor_labels=True,
                ),
            ],
            rule_files(tmp_path),
        ) as prometheus,
    ):
        # Releases start once Prometheus has seen the operator's counters at zero, so their increases show.
        deadline = time.monotonic() + 60
        while not has_data(prometheus, f'bosun_operator_migrations_total{{job="{OPERATOR_JOB}"}}'):
            assert time.monotonic() < deadline, "Prometheus never scraped the operator"
            time.sleep(0.5)
        apply(kube, namespace, release(name="bosun"))
        apply(kube, namespace, release(name="bosun-canary", image=BROKEN_IMAGE))
        wait_for(kube, namespace, phase("Ready"), name="bosun")
        wait_for(kube, namespace, phase("MigrationFailed"), name="bosun-canary")
        refuse_connections(admin_url, unreachable_database_url)
        worker = threading.Thread(target=traffic, args=(healthy, failing, stop), daemon=True)
        worker.start()
        try:
            missing = set(queries)
            deadline = time.monotonic() + 180
            while missing and time.monotonic() < deadline:
                missing = {(name, query) for name, query in missing if not has_data(prometheus, query)}
                time.sleep(1)
            failed = prometheus.query(
                f'bosun_operator_release_phase{{job="{OPERATOR_JOB}", phase="MigrationFailed"}} == 1'
            )
            rules = prometheus.rules()
        finally:
            stop.set()
            worker.join(timeout=30)
    assert not missing, "panel queries without data:\n" + "\n".join(f"{n}: {q}" for n, q in sorted(missing))
    assert len(queries) >= 30
    # The release's own namespace survives the scrape (honor_labels), as the alerts' routing needs.
    assert [(s["metric"]["namespace"], s["metric"]["release"]) for s in failed] == [(namespace, "bosun-canary")]
    assert len(rules) == 11
    unhealthy = {rule["name"]: rule.get("lastError") for rule in rules if rule["health"] != "ok"}
    assert unhealthy == {}
