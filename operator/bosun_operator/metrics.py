"""The operator's Prometheus metrics, served on their own port (the chart's `metrics.port`)."""

from prometheus_client import Counter, Gauge, Histogram

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
