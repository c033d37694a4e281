"""The Helm values reference: every key of a chart's values.yaml, typed by values.schema.json, with its comment."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from harness.docs.markdown import FRONT_MATTER, GENERATED_NOTE, code, one_line, table

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ("bosun", "bosun-operator")


def comments_above(lines: list[str], line: int) -> str:
    """The comment block right above a key (0-based line), at the key's own indentation.

    Commented-out examples (`#  - host: ...`, more than one space after `#`) end the block: they belong to the
    key above them, not to this one.
    """
    indent = len(lines[line]) - len(lines[line].lstrip())
    block: list[str] = []
    for text in reversed(lines[:line]):
        stripped = text.strip()
        if not stripped.startswith("#") or len(text) - len(text.lstrip()) != indent:
            break
        body = stripped[1:]
        if body.startswith("  "):
            break
        block.insert(0, body.strip())
    return " ".join(block)


def resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local `$ref` (`#/definitions/name`)."""
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
    return schema


def type_text(schema: dict[str, Any], root: dict[str, Any]) -> str:
    schema = resolve(schema, root)
    kind = schema.get("type", "any")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if text == "array" and isinstance(schema.get("items"), dict):
        return f"array of {type_text(schema['items'], root)}"
    if text == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"map of {type_text(schema['additionalProperties'], root)}"
    return text


def allowed_text(schema: dict[str, Any], root: dict[str, Any]) -> str:
    schema = resolve(schema, root)
    rules = []
    if "enum" in schema:
        rules.append("one of " + ", ".join(code(value) for value in schema["enum"]))
    for key, wording in (("minimum", "≥"), ("maximum", "≤")):
        if key in schema:
            rules.append(f"{wording} {schema[key]}")
    if "minLength" in schema:
        rules.append(f"at least {schema['minLength']} character(s)")
    if "pattern" in schema:
        rules.append(f"matches {code(schema['pattern'])}")
    items = schema.get("items")
    if isinstance(items, dict) and "pattern" in resolve(items, root):
        rules.append(f"each matches {code(resolve(items, root)['pattern'])}")
    return ", ".join(rules)


def default_text(node: yaml.Node) -> str:
    value = yaml.safe_load(yaml.serialize(node))
    return code(value if value is not None else "null")


def rows(
    mapping: yaml.MappingNode, schema: dict[str, Any], root: dict[str, Any], lines: list[str], prefix: str = ""
) -> Iterator[list[str]]:
    """One row per key of the mapping, depth first; a key whose schema lists properties is broken down."""
    properties = resolve(schema, root).get("properties") or {}
    for key_node, value_node in mapping.value:
        key = str(key_node.value)
        path = f"{prefix}{key}"
        child = properties.get(key, {})
        description = one_line(
            comments_above(lines, key_node.start_mark.line) or resolve(child, root).get("description", "")
        )
        nested = isinstance(value_node, yaml.MappingNode) and resolve(child, root).get("properties")
        default = "" if nested else default_text(value_node)
        yield [code(path), type_text(child, root), default, allowed_text(child, root), description]
        if nested:
            yield from rows(value_node, child, root, lines, f"{path}.")


def chart_section(name: str, values_text: str, schema: dict[str, Any]) -> str:
    document = yaml.compose(values_text)
    assert isinstance(document, yaml.MappingNode)
    lines = values_text.splitlines()
    found = list(rows(document, schema, schema, lines))
    listed = {str(key.value) for key, _ in document.value}
    for key, child in (schema.get("properties") or {}).items():
        if key not in listed:  # accepted by the schema, left out of values.yaml (e.g. Helm's `global`)
            note = (
                one_line(resolve(child, schema).get("description", "")) or "Not in values.yaml; accepted by the schema."
            )
            found.append([code(key), type_text(child, schema), "", allowed_text(child, schema), note])
    return f"## `charts/{name}`\n\n" + table(["key", "type", "default", "allowed", "description"], found)


def values_page(charts: dict[str, tuple[str, dict[str, Any]]]) -> str:
    sections = [chart_section(name, text, schema) for name, (text, schema) in charts.items()]
    return (
        FRONT_MATTER
        + "# Helm values reference\n\n"
        + GENERATED_NOTE.format(
            source="each chart's `values.yaml` (defaults, comments) and `values.schema.json` (types)"
        )
        + "\nA value the schema does not know, or of the wrong type, fails `helm install` and `helm upgrade` before"
        " anything is applied. Under `charts/bosun`, the operator chart's values go under the `bosun-operator` key.\n\n"
        + "\n".join(sections)
    )


def page() -> str:
    charts = {
        name: (
            (ROOT / "charts" / name / "values.yaml").read_text(),
            json.loads((ROOT / "charts" / name / "values.schema.json").read_text()),
        )
        for name in CHARTS
    }
    return values_page(charts)
