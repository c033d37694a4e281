"""Markdown building blocks for the generated reference pages (pure functions)."""

import json
from collections.abc import Sequence

# Front matter of every reference page: no table of contents on the right, so the wide tables get the room.
FRONT_MATTER = "---\nhide:\n  - toc\n---\n\n"
GENERATED_NOTE = (
    "> Generated from {source} by `uv run poe docs-reference`; a test fails when this page differs from the code.\n"
)


def one_line(text: str) -> str:
    """Collapse a docstring or YAML comment into one line of Markdown table text."""
    return " ".join(text.split()).replace("|", "\\|")


def code(value: object) -> str:
    """An inline code span for a value (JSON-like rendering; never empty)."""
    # A `|` stays as it is: Python-Markdown's tables never split a cell inside a code span.
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}" if text else '`""`'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table; cells are used as given (escape them with one_line/code first)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def bullets(items: Sequence[str]) -> str:
    return "".join(f"- {item}\n" for item in items)
