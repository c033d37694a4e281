"""The configuration reference: every setting of `Settings`, and the rules across settings and for production."""

import ast
import enum
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import annotated_types
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from app.core import config
from app.core.config import Settings
from harness.docs.markdown import FRONT_MATTER, GENERATED_NOTE, bullets, code, one_line, table


def type_name(annotation: Any) -> str:
    """A reader's name for a setting's type (`None` in a union means the setting may be unset)."""
    if get_origin(annotation) in (Union, types.UnionType):
        kept = [arg for arg in get_args(annotation) if arg is not type(None)]
        return " or ".join(type_name(arg) for arg in kept)
    if get_origin(annotation) is list:
        return f"list of {type_name(get_args(annotation)[0])}"
    if annotation is SecretStr:
        return "secret string"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "string"
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def default_text(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return code("true" if value else "false")
    if value == []:
        return "empty"
    return code(value)


def _number(value: object) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def allowed_text(field: FieldInfo) -> str:
    """The values a setting accepts, from its type and its constraints."""
    parts: list[str] = []
    members = [arg for arg in (field.annotation, *get_args(field.annotation)) if isinstance(arg, type)]
    for member in members:
        if issubclass(member, enum.Enum):
            parts.append(", ".join(code(item.value) for item in member))
    low = high = ""
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            low = f"≥ {_number(rule.ge)}"
        elif isinstance(rule, annotated_types.Gt):
            low = f"> {_number(rule.gt)}"
        elif isinstance(rule, annotated_types.Le):
            high = f"≤ {_number(rule.le)}"
        elif isinstance(rule, annotated_types.Lt):
            high = f"< {_number(rule.lt)}"
        elif isinstance(rule, annotated_types.MaxLen):
            parts.append(f"at most {_number(rule.max_length)} characters")
        elif getattr(rule, "pattern", None):
            parts.append(f"matches {code(rule.pattern)}")
    if low or high:
        parts.insert(0, ", ".join(part for part in (low, high) if part))
    return "; ".join(parts)


def raised_messages(source: str, function: str) -> list[str]:
    """The messages of the `raise ...Error(message)` statements in a function of a module's source, in order: the
    rules it enforces, as worded for the user."""
    definition = next(
        node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef) and node.name == function
    )
    messages: list[tuple[int, str]] = []
    for node in ast.walk(definition):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
            messages.append((node.lineno, _message_text(node.exc.args[0])))
    return [message for _, message in sorted(messages)]


def _message_text(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its placeholders stand for the offending value
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "…"
            for part in node.values
            if isinstance(part, ast.Constant | ast.FormattedValue)
        )
    return ast.unparse(node)


def settings_page(model: type[BaseSettings] = Settings, source: str | None = None) -> str:
    """The page for a settings model; `source` is the text of the module holding its validators."""
    rows = [
        [
            code(name),
            type_name(field.annotation),
            default_text(field.default),
            allowed_text(field),
            one_line(field.description or ""),
        ]
        for name, field in model.model_fields.items()
    ]
    source = Path(config.__file__).read_text() if source is None else source
    consistency = raised_messages(source, "_check_consistency")
    production = raised_messages(source, "_check_production")
    return (
        FRONT_MATTER
        + "# Configuration reference\n\n"
        + GENERATED_NOTE.format(source="`Settings` in `app/core/config.py`")
        + "\nEvery setting is an environment variable of the same name (or a line of `.env`); an AppRelease's"
        " `spec.settings` holds the same names. A value outside these rules stops the service at start-up, and the"
        " operator refuses the release, with one line naming the setting.\n\n"
        + table(["setting", "type", "default", "allowed", "description"], rows)
        + "\n## Rules across settings\n\nChecked in every environment:\n\n"
        + bullets([one_line(message) for message in consistency])
        + "\n## What production adds\n\nWith `ENVIRONMENT=production` the service (and the operator) also refuse"
        " a configuration that breaks one of these rules:\n\n" + bullets([one_line(message) for message in production])
    )
