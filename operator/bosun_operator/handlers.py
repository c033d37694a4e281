"""kopf wiring: what triggers a reconciliation (watch events of releases and of what they own, and a resync timer)."""

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import kopf
from lightkube import AsyncClient

from bosun_operator import metrics
from bosun_operator.reconcile import forget, reconcile
from bosun_operator.resources import FIELD_MANAGER, GROUP, MANAGED_BY, PLURAL, RELEASE_LABEL, VERSION

# A backstop for anything a watch missed (and retries after errors); changes themselves arrive as watch events.
RESYNC_SECONDS = 15.0
FINALIZER = "bosun.dev/operator"

logger = logging.getLogger(__name__)
_locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
_clients: list[AsyncClient] = []


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # A watch that the server or a load balancer silently drops is kopf's most reported failure: time them out.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.WARNING  # our own Events say what happened; kopf's chatter stays in the log
    settings.persistence.finalizer = FINALIZER
    _clients.append(AsyncClient(field_manager=FIELD_MANAGER))


@kopf.on.cleanup()
async def close(**_: Any) -> None:
    while _clients:
        await _clients.pop().close()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def release_changed(type: str, name: str, namespace: str | None, **_: Any) -> None:
    assert namespace is not None  # AppReleases are namespaced
    if type == "DELETED":
        forget(namespace, name)
        return
    await _reconcile(namespace, name)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)
@kopf.on.event("apps", "v1", "deployments", labels=MANAGED_BY)
async def owned_changed(labels: Mapping[str, str], namespace: str | None, **_: Any) -> None:
    if namespace and (release := labels.get(RELEASE_LABEL)):
        await _reconcile(namespace, release)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS)
async def resync(name: str, namespace: str | None, **_: Any) -> None:
    assert namespace is not None
    await _reconcile(namespace, name)


async def _reconcile(namespace: str, name: str) -> None:
    # Watch events and the timer may fire together for one release: one reconciliation at a time.
    async with _locks[(namespace, name)]:
        try:
            result = await reconcile(_clients[0], namespace, name)
        except Exception:
            metrics.RECONCILIATIONS.labels("error").inc()
            raise
        metrics.RECONCILIATIONS.labels(result).inc()
