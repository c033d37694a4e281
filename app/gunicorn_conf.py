"""Gunicorn configuration of the production process: `gunicorn --config python:app.gunicorn_conf ...`.

Loaded once in the gunicorn master before any worker exists: it validates the settings (a bad configuration
stops start-up with one line), prepares the Prometheus multiprocess folder, builds the app (preload) and serves
the metrics port.
"""

import gc
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import glogging

from app.core.config import ConfigurationError, Settings, load_settings
from app.core.ports import PortUnavailable, check_port_free


def _fail(message: object) -> None:
    print(f"bosun: {message}", file=sys.stderr)
    sys.exit(1)


def _load_settings() -> Settings:
    try:
        return load_settings(require_database=True)
    except ConfigurationError as exc:
        _fail(exc)
        raise


def _fresh_multiprocess_dir() -> str:
    """Empty the metrics folder before the first worker, so no dead worker's numbers survive a restart."""
    folder = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "bosun-metrics")))
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return str(folder)


settings = _load_settings()
# Before anything imports prometheus_client: it picks multiprocess mode from this variable at import.
_fresh_multiprocess_dir()

bind = [f"{settings.HOST}:{settings.PORT}"]
workers = settings.workers
worker_class = "app.worker.DrainingUvicornWorker"  # uvicorn's, answering every accepted connection when it retires
# The master imports and builds the app once and forks ready workers from it: a worker replaced after
# MAX_REQUESTS serves again within milliseconds instead of after a fresh import. The app opens nothing until its
# lifespan runs in the worker (engine, tracing, metrics), so nothing crosses the fork.
preload_app = True
timeout = settings.WORKER_TIMEOUT
graceful_timeout = settings.GRACEFUL_TIMEOUT
keepalive = settings.KEEPALIVE
max_requests = settings.MAX_REQUESTS
max_requests_jitter = settings.MAX_REQUESTS_JITTER
accesslog = None  # our middleware writes one access line per request
errorlog = "-"
loglevel = settings.LOG_LEVEL.lower()
proc_name = "bosun"
control_socket_disable = True  # it would write under $HOME, which is read-only in the container


class BosunLogger(glogging.Logger):  # type: ignore[misc]
    """Gunicorn's own messages in the service's format (JSON lines in production)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        from app.core.logging import configure_logging

        configure_logging(settings)
        root_handlers = logging.getLogger().handlers
        # uvicorn's worker copies these handlers to its own loggers.
        self.error_log.handlers = [h for h in root_handlers if h.get_name() == "bosun"]
        self.error_log.propagate = False


logger_class = BosunLogger


def on_starting(server: Any) -> None:
    """A taken port stops start-up with one line naming its setting (not gunicorn's retries or a traceback).

    Once, before the master binds: unlike the module itself, this hook does not run again on a reload (SIGHUP).
    """
    try:
        check_port_free(settings.HOST, settings.PORT, "PORT")
        if settings.metrics_port:
            check_port_free(settings.HOST, settings.metrics_port, "METRICS_PORT")
    except PortUnavailable as exc:
        _fail(exc)


def when_ready(server: Any) -> None:
    """The master finishes building the app for every worker and serves the metrics port (all workers' numbers)."""
    from app.core.metrics import start_metrics_server

    # FastAPI resolves a route's dependencies and models on its first request, the OpenAPI document on its first
    # fetch: done once here (building the document visits every route), a fresh worker's first requests do not
    # each pay milliseconds for it.
    server.app.wsgi().openapi()
    # The preloaded app's objects stay out of the workers' garbage collections: a collection in a forked worker
    # would walk (and so copy, page by page) the heap it shares with the master. Collected first, so no garbage of
    # the master is kept for good.
    gc.collect()
    gc.freeze()
    if settings.metrics_port:
        start_metrics_server(settings.HOST, settings.metrics_port)
        server.log.info("metrics on http://%s:%s/metrics", settings.HOST, settings.metrics_port)


def post_fork(server: Any, worker: Any) -> None:
    """Tracing starts in each worker: exporter threads do not survive fork."""
    from app.core.telemetry import init_tracing

    init_tracing()


def worker_exit(server: Any, worker: Any) -> None:
    """Flush the worker's pending spans and logs, then end a worker that is exiting at once.

    The interpreter's own teardown of the preloaded app takes about 0.3 s, and the master forks the replacement
    only when the worker has gone: with one worker, nobody would accept meanwhile. A forked child that has flushed
    its output may end with os._exit, as multiprocessing's children do.
    """
    from app.core.telemetry import shutdown_tracing

    shutdown_tracing()
    leaving = sys.exc_info()[1]  # gunicorn calls this hook while the worker's SystemExit unwinds
    if os.getpid() == worker.pid and isinstance(leaving, SystemExit) and isinstance(leaving.code, int | None):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(leaving.code or 0)


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must stop counting."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
