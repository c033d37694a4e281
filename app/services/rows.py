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
    def _nested_fields(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        return tuple((prefix, tuple(model.model_fields)) for prefix, (_, model) in self.nested.items())

    def columns(self) -> list[Label[Any]]:
        """The SELECT list: one labelled column per field."""
        columns = [getattr(self.entity, name).label(name) for name in self.fields]
        for prefix, (entity, model) in self.nested.items():
            columns += [getattr(entity, name).label(f"{prefix}__{name}") for name in model.model_fields]
        return columns

    def item(self, row: RowMapping) -> dict[str, Any]:
        """A row as the model's fields; a nested model whose columns are all NULL (an outer join) is None."""
        item = {name: row[name] for name in self.fields}
        for prefix, names in self._nested_fields:
            values = {name: row[f"{prefix}__{name}"] for name in names}
            item[prefix] = None if all(value is None for value in values.values()) else values
        return item
