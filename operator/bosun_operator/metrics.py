"""The operator's Prometheus metrics, served on their own port (the chart's `metrics.port`)."""

from prometheus_client import Counter, Gauge, Histogram

RECONCILE_RESULTS = ("success", "retry", "invalid", "error")
FINISH_RESULTS = ("succeeded", "failed")
PHASES = ("Pending", "Invalid", "Paused", "Migrating", "MigrationFailed", "RollingOut", "RolloutFailed", "Ready")

# Migrations and rollouts take seconds to many minutes.
_DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 3600)

RECONCILIATIONS = Counter(
    "bosun_operator_reconciliations_total",
    "AppRelease reconciliations by result (success, retry, invalid, error).",
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
for _result in FINISH_RESULTS:
    for _metric in (MIGRATIONS, MIGRATION_DURATION, ROLLOUTS, ROLLOUT_DURATION):
        _metric.labels(result=_result)
