"""The operator's Prometheus metrics, served on their own port (the chart's `metrics.port`)."""

from typing import Literal, get_args

from prometheus_client import Counter, Gauge, Histogram

from bosun_operator.status import PHASES

# A reconciliation ends as: done what it could (success), stopped at settings the service refuses (invalid), or
# raised (error; the watch event or the next resync tries again).
Result = Literal["success", "invalid", "error"]
RECONCILE_RESULTS: tuple[Result, ...] = get_args(Result)
Finish = Literal["succeeded", "failed"]
FINISH_RESULTS: tuple[Finish, ...] = get_args(Finish)

# Migrations and rollouts take seconds to many minutes.
_DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)

RECONCILIATIONS = Counter(
    "bosun_operator_reconciliations_total",
    "AppRelease reconciliations by result (success, invalid, error).",
    ["result"],
)
MIGRATIONS = Counter(
    "bosun_operator_migrations_total",
    "Migration Jobs that finished, by result (succeeded, failed).",
    ["result"],
)
MIGRATION_DURATION = Histogram(
    "bosun_operator_migration_duration_seconds",
    "From a migration Job's start to its end, by result.",
    ["result"],
    buckets=_DURATION_BUCKETS,
)
ROLLOUTS = Counter(
    "bosun_operator_rollouts_total",
    "Deployment rollouts that finished, by result (succeeded, failed).",
    ["result"],
)
ROLLOUT_DURATION = Histogram(
    "bosun_operator_rollout_duration_seconds",
    "From patching the Deployment to all replicas updated and available (or its progress deadline), by result.",
    ["result"],
    buckets=_DURATION_BUCKETS,
)
RELEASE_PHASE = Gauge(
    "bosun_operator_release_phase",
    "1 for the current phase of each AppRelease, 0 for the others.",
    ["namespace", "release", "phase"],
)

# Every known label value starts at zero, so a rate or an increase is 0 rather than missing until the first event
# (and an alert on errors can see the first one).
for _result in RECONCILE_RESULTS:
    RECONCILIATIONS.labels(result=_result)
for _finish in FINISH_RESULTS:
    for _metric in (MIGRATIONS, MIGRATION_DURATION, ROLLOUTS, ROLLOUT_DURATION):
        _metric.labels(result=_finish)


def set_phase(namespace: str, release: str, phase: str) -> None:
    """1 for the release's phase, 0 for the others."""
    for known in PHASES:
        RELEASE_PHASE.labels(namespace, release, known).set(known == phase)


def forget_release(namespace: str, release: str) -> None:
    """Drop the phase series of a release that is gone."""
    for known in PHASES:
        try:
            RELEASE_PHASE.remove(namespace, release, known)
        except KeyError:
            continue
