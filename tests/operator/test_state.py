"""The operator's state lives in one object made at start-up: a release's lock goes when the release does."""

import pytest
from bosun_operator import health
from bosun_operator.state import Operator, Options
from lightkube import AsyncClient, KubeConfig


async def test_a_deleted_release_leaves_no_lock_behind() -> None:
    """Nothing listens on the apiserver's address: the reconciliation fails, as with a cluster that went away."""
    config = {
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9", "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }
    client = AsyncClient(config=KubeConfig.from_dict(config))
    operator = Operator(Options(namespaces=("shop",)), client, health.ApiHealth(5, 120))
    try:
        with pytest.raises(Exception, match="connection attempts failed"):  # the client's own ConnectError
            await operator.reconcile("shop", "web")
        assert operator.tracked == 1
        operator.forget("shop", "web")
        assert operator.tracked == 0
    finally:
        await operator.close()


def test_probes_follow_the_checks() -> None:
    probes = health.ApiHealth(check_interval=5, unhealthy_after=60, webhook_ready=False)
    assert probes.ready(0)[0] is False and probes.alive(0)[0] is True  # not checked yet
    probes.succeeded(1)
    assert probes.ready(2) == (False, "the admission webhook is not set up yet")
    probes.webhook_ready = True
    assert probes.ready(2) == (True, "ok")
    probes.failed(6, "ConnectTimeout: timed out")
    assert probes.ready(7)[0] is False and probes.alive(7)[0] is True
    probes.failed(70, "ConnectTimeout: timed out")
    assert probes.alive(70) == (False, "the apiserver has not answered for 64s: ConnectTimeout: timed out")
    probes.succeeded(71)
    assert probes.ready(72)[0] and probes.alive(72)[0]
    assert probes.ready(100) == (False, "the apiserver checks stopped")  # the checking loop itself hangs
