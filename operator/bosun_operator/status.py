"""AppRelease status: the phase, the four conditions and the fields `kubectl get appreleases` shows."""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, get_args

# The one list of phases: the CRD's enum, the metrics, the dashboard and the alerts are checked against it by tests.
Phase = Literal["Invalid", "Paused", "Migrating", "MigrationFailed", "RollingOut", "RolloutFailed", "Ready"]
PHASES: tuple[Phase, ...] = get_args(Phase)
ConditionType = Literal["Valid", "Migrated", "RolledOut", "Ready"]
CONDITION_TYPES: tuple[ConditionType, ...] = get_args(ConditionType)


@dataclass(frozen=True)
class Condition:
    status: Literal["True", "False", "Unknown"]
    reason: str
    message: str = ""


@dataclass
class Outcome:
    """What one reconciliation concluded about a release."""

    phase: Phase
    conditions: dict[ConditionType, Condition] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)  # currentImage, targetImage, migrationJob, ...


def timestamp(moment: datetime) -> str:
    """A Kubernetes timestamp (RFC 3339, seconds, UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_status(old: dict[str, Any], outcome: Outcome, generation: int, now: str) -> dict[str, Any]:
    """The status to write: old conditions kept unless the outcome says otherwise; transition times kept."""
    previous = {c.get("type"): c for c in old.get("conditions") or [] if isinstance(c, dict)}
    conditions = []
    for kind in CONDITION_TYPES:
        wanted = outcome.conditions.get(kind)
        before = previous.get(kind)
        if wanted is None:
            if before is not None:
                conditions.append(before)
            continue
        unchanged = before is not None and before.get("status") == wanted.status
        conditions.append(
            {
                "type": kind,
                "status": wanted.status,
                "reason": wanted.reason,
                "message": wanted.message[:32768],
                "lastTransitionTime": before["lastTransitionTime"] if unchanged and before else now,
                "observedGeneration": generation,
            }
        )
    ready = outcome.phase == "Ready"
    if "Ready" not in outcome.conditions:
        conditions = [c for c in conditions if c.get("type") != "Ready"]
        before = previous.get("Ready")
        status = "True" if ready else "False"
        unchanged = before is not None and before.get("status") == status
        conditions.append(
            {
                "type": "Ready",
                "status": status,
                "reason": outcome.phase,
                "message": "" if ready else _ready_message(outcome),
                "lastTransitionTime": before["lastTransitionTime"] if unchanged and before else now,
                "observedGeneration": generation,
            }
        )
    status_fields = {key: value for key, value in old.items() if key not in ("conditions", "phase", "kopf")}
    status_fields.update(outcome.fields)
    return {**status_fields, "phase": outcome.phase, "observedGeneration": generation, "conditions": conditions}


def _ready_message(outcome: Outcome) -> str:
    failing = [f"{kind}: {c.message}" for kind, c in outcome.conditions.items() if c.status != "True" and c.message]
    return "; ".join(failing) or f"the release is {outcome.phase}"


def differs(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when writing `new` would change more than timestamps."""

    def essence(status: dict[str, Any]) -> object:
        conditions = [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or []]
        rest = {k: v for k, v in status.items() if k not in ("conditions", "kopf")}
        return rest, conditions

    return essence(old) != essence(new)
