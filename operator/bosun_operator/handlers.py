"""kopf wiring: what triggers a reconciliation (watch events of releases and of what they own) and the operator's
life: its state is made at start-up, kept in kopf's memo and closed at cleanup.

No handler needs a finalizer (no timers, daemons or on-delete handlers): deleting a release never waits for the
operator, so `helm uninstall` and namespace deletion work with the operator gone. The resync is the operator's own
loop (kopf's timers would add a finalizer).
"""

import logging
from collections.abc import Mapping
from typing import Any

import kopf

from bosun_operator.resources import GROUP, MANAGED_BY, PLURAL, RELEASE_LABEL, VERSION
from bosun_operator.state import Operator, Options

# The finalizer earlier versions added: kopf removes it from releases now that no handler requires it.
FINALIZER = "bosun.dev/operator"

logger = logging.getLogger(__name__)


def _operator(memo: Any) -> Operator:
    operator = memo.get("operator")
    assert isinstance(operator, Operator), "the operator's start-up handler has not run"
    return operator


@kopf.on.startup()
async def start(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    # A watch that the server or a load balancer silently drops is kopf's most reported failure: time them out.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 30
    settings.posting.level = logging.WARNING  # our own Events say what happened; kopf's chatter stays in the log
    settings.persistence.finalizer = FINALIZER
    options = memo.get("options")
    assert isinstance(options, Options)
    memo["operator"] = await Operator.start(options)


@kopf.on.cleanup()
async def stop(memo: kopf.Memo, **_: Any) -> None:
    if isinstance(memo.get("operator"), Operator):
        await _operator(memo).close()


@kopf.on.event(GROUP, VERSION, PLURAL)
async def release_changed(type: str, name: str, namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    assert namespace is not None  # AppReleases are namespaced
    if type == "DELETED":
        _operator(memo).forget(namespace, name)
        return
    await _operator(memo).reconcile(namespace, name)


@kopf.on.event("batch", "v1", "jobs", labels=MANAGED_BY)
@kopf.on.event("apps", "v1", "deployments", labels=MANAGED_BY)
async def owned_changed(labels: Mapping[str, str], namespace: str | None, memo: kopf.Memo, **_: Any) -> None:
    if namespace and (release := labels.get(RELEASE_LABEL)):
        await _operator(memo).reconcile(namespace, release)
