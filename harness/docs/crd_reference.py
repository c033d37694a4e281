"""The AppRelease reference: every field of the CRD's schema, and the status the operator writes."""

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from bosun_operator import plan, status

from harness.docs.markdown import FRONT_MATTER, GENERATED_NOTE, bullets, code, one_line, table

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "charts" / "bosun-operator" / "crds" / "appreleases.bosun.dev.yaml"

# Schema keywords shown in the validation column, in this order, with their wording.
_LIMITS = {
    "minLength": "min length",
    "maxLength": "max length",
    "minimum": "minimum",
    "maximum": "maximum",
    "minItems": "min items",
    "maxItems": "max items",
    "maxProperties": "max entries",
    "format": "format",
}


def schema_type(schema: dict[str, Any]) -> str:
    kind = str(schema.get("type", "any"))
    if kind == "array":
        return f"array of {schema_type(schema.get('items') or {})}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {schema_type(schema['additionalProperties'])}"
    return kind


def validation(schema: dict[str, Any], required: bool) -> list[str]:
    rules = ["required"] if required else []
    rules += [f"{wording} {code(schema[key])}" for key, wording in _LIMITS.items() if key in schema]
    if "pattern" in schema:
        rules.append(f"pattern {code(schema['pattern'])}")
    if "enum" in schema:
        rules.append("one of " + ", ".join(code(value) for value in schema["enum"]))
    values = schema.get("additionalProperties")
    if isinstance(values, dict):
        rules += [f"each value: {rule}" for rule in validation(values, required=False)]
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        rules.append("other fields kept as given")
    rules += [one_line(check["message"]) for check in schema.get("x-kubernetes-validations") or []]
    return rules


def fields(schema: dict[str, Any], path: str = "", required: bool = False) -> Iterator[list[str]]:
    """One row per field, depth first: path, type, default, validation, description."""
    if path:
        default = code(schema["default"]) if "default" in schema else ""
        rules = "; ".join(validation(schema, required))
        yield [code(path), schema_type(schema), default, rules, one_line(schema.get("description", ""))]
    needed = set(schema.get("required") or [])
    for name, child in (schema.get("properties") or {}).items():
        yield from fields(child, f"{path}.{name}" if path else name, name in needed)
    items = schema.get("items")
    if isinstance(items, dict) and items.get("properties"):
        yield from fields(items, f"{path}[]", False)


def condition_reasons(source: str) -> list[list[str]]:
    """Each (condition, status, reason) the reconciler can set: `step.conditions["X"] = Condition(status, reason…)`."""
    rows: list[list[str]] = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        target, call = node.targets[0], node.value
        if not (isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Constant)):
            continue
        if not (isinstance(call.func, ast.Name) and call.func.id == "Condition" and len(call.args) >= 2):
            continue
        state, reason = call.args[0], call.args[1]
        reason_text = (
            code(reason.value)
            if isinstance(reason, ast.Constant)
            else "Kubernetes' own (see `status.conditions[].reason`)"
        )
        row = [code(target.slice.value), code(ast.literal_eval(state)), reason_text]
        if row not in rows:
            rows.append(row)
    order = {code(kind): index for index, kind in enumerate(status.CONDITION_TYPES)}
    return sorted(rows, key=lambda row: order[row[0]])


def events(source: str) -> list[list[str]]:
    """Each Event the reconciler posts: `PostEvent(type, reason, …)`."""
    rows: list[list[str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "PostEvent":
            kind, reason = (ast.literal_eval(arg) for arg in node.args[:2])
            if [code(reason), kind] not in rows:
                rows.append([code(reason), kind])
    return sorted(rows)


def apprelease_page(crd: dict[str, Any], plan_source: str) -> str:
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    rows = list(fields(schema))
    columns = [
        [code(column["name"]), code(column["jsonPath"])] for column in version.get("additionalPrinterColumns") or []
    ]
    return (
        FRONT_MATTER
        + "# AppRelease reference\n\n"
        + GENERATED_NOTE.format(
            source="the CRD (`charts/bosun-operator/crds/`) and the operator's `status.py` and `plan.py`"
        )
        + f"\n`apiVersion: {crd['spec']['group']}/{version['name']}`, `kind: {crd['spec']['names']['kind']}`,"
        f" {crd['spec']['scope'].lower()}. {one_line(schema.get('description', ''))}\n\n"
        + "## Fields\n\n"
        + table(["field", "type", "default", "validation", "description"], rows)
        + "\n## Phases\n\n`status.phase` is one of (see `status.phase` above for what each means):\n\n"
        + bullets([code(phase) for phase in status.PHASES])
        + "\n## Conditions\n\n`status.conditions` holds "
        + ", ".join(code(kind) for kind in status.CONDITION_TYPES)
        + ". `Ready` is `True` when the phase is `Ready`; otherwise `False`, with the phase as its reason and the"
        " failing conditions' messages. The others, with the reasons the operator gives them:\n\n"
        + table(["condition", "status", "reason"], condition_reasons(plan_source))
        + "\n## Events\n\n"
        + table(["reason", "type"], events(plan_source))
        + "\n## `kubectl get appreleases`\n\n"
        + table(["column", "from"], columns)
    )


def plan_source() -> str:
    """The reconciler's decisions (`bosun_operator/plan.py`), where the conditions and Events are set."""
    return Path(plan.__file__).read_text()


def page() -> str:
    crd = yaml.safe_load(CRD.read_text())
    return apprelease_page(crd, plan_source())
