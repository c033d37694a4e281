"""STAND-IN for the running operator's /metrics until the operator runs in the tests.

It serves the operator's real metric definitions (bosun_operator.metrics, registered in prometheus_client's
default registry on import) with one sample of every label value the operator uses, so dashboards and alerts are
checked against the names the operator really exports. Swap `operator_scrape_standin` and
`operator_metrics_standin_server` for a scrape of the live operator once it runs here.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from bosun_operator import metrics
from prometheus_client import REGISTRY, generate_latest, start_http_server

from harness.ports import free_port

RECONCILE_RESULTS = ("success", "retry", "invalid", "error")
FINISH_RESULTS = ("succeeded", "failed")
# The releases the stand-in reports: (namespace, release, current phase).
STANDIN_RELEASES = (("bosun", "bosun", "Ready"), ("bosun", "bosun-canary", "MigrationFailed"))


def record_standin_activity() -> None:
    """One more sample of every labelled operator metric: each result once, each release in its phase."""
    for result in RECONCILE_RESULTS:
        metrics.RECONCILIATIONS.labels(result=result).inc()
    for result in FINISH_RESULTS:
        metrics.MIGRATIONS.labels(result=result).inc()
        metrics.MIGRATION_DURATION.labels(result=result).observe(42)
        metrics.ROLLOUTS.labels(result=result).inc()
        metrics.ROLLOUT_DURATION.labels(result=result).observe(120)
    for namespace, release, current in STANDIN_RELEASES:
        for phase in metrics.PHASES:
            metrics.RELEASE_PHASE.labels(namespace=namespace, release=release, phase=phase).set(int(phase == current))


def operator_scrape_standin() -> str:
    """The exposition text of the stand-in (what a scrape of the operator's metrics port returns)."""
    record_standin_activity()
    return generate_latest(REGISTRY).decode()


@contextmanager
def operator_metrics_standin_server() -> Iterator[str]:
    """Serve the stand-in on a loopback port for a real Prometheus to scrape; yields `host:port`."""
    record_standin_activity()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
