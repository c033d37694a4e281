"""One reconciliation of an AppRelease: observe what exists, plan the outcome and the actions, act.

Level-based: every step reads what exists (the release, its Job, its Deployment) and does the next thing, so a
restart at any point converges, a Job is never created twice (it has a fixed name and is adopted) and the
Deployment is never patched before its migration Job is Complete.
"""

from datetime import UTC, datetime

from lightkube import AsyncClient

from bosun_operator import metrics
from bosun_operator.act import execute
from bosun_operator.metrics import Result
from bosun_operator.observe import observe
from bosun_operator.plan import plan


async def reconcile(client: AsyncClient, namespace: str, name: str) -> Result:
    """Bring one release a step closer to its spec; returns the result label for the metrics."""
    observed = await observe(client, namespace, name)
    decided = plan(observed, datetime.now(UTC))
    await execute(client, namespace, name, observed.release, decided.actions)
    if decided.outcome is not None:
        metrics.set_phase(namespace, name, decided.outcome.phase)
    return decided.result
