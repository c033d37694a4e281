"""Lists read as plain rows that carry exactly an API model's fields, instead of ORM objects.

Building 50 tasks or projects with their nested project, team and people as mapped instances cost several times
the query itself. A `RowShape` selects one labelled column per field of the API model (nested models from joined
entities, as `<field>__<name>`) and turns each row back into the model's dict, so the API model stays the one
definition of what a list item holds.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Label, RowMapping


@dataclass(frozen=True)
class RowShape:
    """`model`'s fields from `entity`'s columns, and each nested field from the columns of its own entity."""

    model: type[BaseModel]
    entity: Any
    nested: Mapping[str, tuple[Any, type[BaseModel]]] = field(default_factory=dict)

    @cached_property
    def fields(self) -> tuple[str, ...]:
        return tuple(name for name in self.model.model_fields if name not in self.nested)

    @cached_property
    def _plan(self) -> tuple[tuple[str, tuple[str, ...] | None], ...]:
        """Each field of the model in its order, with the column names of a nested model's fields."""
        return tuple(
            (name, tuple(self.nested[name][1].model_fields) if name in self.nested else None)
            for name in self.model.model_fields
        )

    @cached_property
    def columns(self) -> tuple[Label[Any], ...]:
        """The SELECT list: one labelled column per field (built once: SQL elements are immutable)."""
        columns = [getattr(self.entity, name).label(name) for name in self.fields]
        for prefix, (entity, model) in self.nested.items():
            columns += [getattr(entity, name).label(f"{prefix}__{name}") for name in model.model_fields]
        return tuple(columns)

    def item(self, row: RowMapping) -> dict[str, Any]:
        """A row as the model's fields, in the model's order; a nested model whose columns are all NULL (an outer
        join) is None."""
        item: dict[str, Any] = {}
        for name, nested in self._plan:
            if nested is None:
                item[name] = row[name]
                continue
            values = {field: row[f"{name}__{field}"] for field in nested}
            item[name] = None if all(value is None for value in values.values()) else values
        return item
