"""Lists read as plain rows that carry exactly an API model's fields, instead of ORM objects.

Building 50 tasks or projects with their nested project, team and people as mapped instances cost several times
the query itself. A `RowShape` selects one labelled column per field of the API model (nested models from joined
entities, as `<field>__<name>`) and turns each row, by position, back into the model's dict, so the API model stays
the one definition of what a list item holds. UUIDs and enums are read as the strings the API sends.
Every list of the API is read this way (`ListStatements`: the page with its total in one statement) and sent with
`Pagination.json_page`.
"""

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Enum, Integer, Label, Select, String, Text, Uuid, bindparam, cast, func, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncConnection


@dataclass(frozen=True)
class RowShape:
    """`model`'s fields from `entity`'s columns, and each nested field from the columns of its own entity."""

    model: type[BaseModel]
    entity: Any
    nested: Mapping[str, tuple[Any, type[BaseModel]]] = field(default_factory=dict)
    # Own fields read from a column of another joined entity (a team's `role`: the caller's membership's).
    joined: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def _selected(self) -> tuple[tuple[str, str | None, Any], ...]:
        """(field, nested field or None, column) in SELECT order: the model's own fields, then each nested one's."""
        own = tuple(
            (name, None, self.joined[name] if name in self.joined else getattr(self.entity, name))
            for name in self.model.model_fields
            if name not in self.nested
        )
        return own + tuple(
            (prefix, name, getattr(entity, name))
            for prefix, (entity, model) in self.nested.items()
            for name in model.model_fields
        )

    @cached_property
    def columns(self) -> tuple[Label[Any], ...]:
        """The SELECT list: one labelled column per field (built once: SQL elements are immutable)."""
        return tuple(
            _as_sent(column).label(name if nested is None else f"{name}__{nested}")
            for name, nested, column in self._selected
        )

    @cached_property
    def _plan(self) -> tuple[tuple[str, int | tuple[tuple[str, int], ...]], ...]:
        """Each field of the model in its order, with its position in the row (a nested model: its fields')."""
        positions: dict[str, Any] = {}
        for index, (name, nested, _) in enumerate(self._selected):
            if nested is None:
                positions[name] = index
            else:
                positions.setdefault(name, []).append((nested, index))
        return tuple(
            (name, tuple(where) if isinstance(where := positions[name], list) else where)
            for name in self.model.model_fields
        )

    @cached_property
    def _absent(self) -> dict[str, dict[str, None]]:
        """Each nested model's values when its columns are all NULL (an outer join found no row)."""
        return {name: dict.fromkeys(model.model_fields) for name, (_, model) in self.nested.items()}

    def item(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row (in `columns` order) as the model's fields, in the model's order; a nested model whose columns are
        all NULL is None."""
        item: dict[str, Any] = {}
        for name, where in self._plan:
            if isinstance(where, int):
                item[name] = row[where]
                continue
            values = {field: row[index] for field, index in where}
            item[name] = None if values == self._absent[name] else values
        return item


@dataclass(frozen=True)
class ListStatements:
    """A list's statements, built once with bind parameters: the page (`shape`'s columns and a `total` column) and
    the count alone (for a page past the end)."""

    page: Select[Any]
    count: Select[Any]
    shape: RowShape

    @classmethod
    def paged(cls, shape: RowShape, rows: Select[Any], visible: Select[Any]) -> "ListStatements":
        """A list's statements from `rows` (`shape`'s columns, joined, filtered and ordered) and `visible` (the ids
        the caller may see, counted): the rows paged by bound `limit` and `offset`, each with the total."""
        count = sa_select(func.count()).select_from(visible.subquery())
        page = (
            rows.add_columns(count.scalar_subquery().label("total"))
            .limit(bindparam("limit", type_=Integer))
            .offset(bindparam("offset", type_=Integer))
        )
        return cls(page, count, shape)

    async def read_page(
        self, connection: AsyncConnection, params: Mapping[str, object], limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The page's items and the total; the total is None when the page has no rows (the caller may not see the
        list, or the page is past its end)."""
        rows = (await connection.execute(self.page, {**params, "limit": limit, "offset": offset})).all()
        if not rows:
            return [], None
        return [self.shape.item(row) for row in rows], rows[0].total

    async def read_count(self, connection: AsyncConnection, params: Mapping[str, object]) -> int:
        """How many items the list has."""
        total: int = (await connection.execute(self.count, params)).scalar_one()
        return total

    async def read(
        self,
        connection: AsyncConnection,
        params: Mapping[str, object],
        limit: int,
        offset: int,
        *,
        check_access: Callable[[], Awaitable[object]] | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """The page's items and the list's total, in one statement while the page has rows (which came through the
        caller's membership). A page without rows first runs `check_access` (raising when the caller may not see
        the list), then counts the list on its own: past its end only (at its start it is empty)."""
        items, total = await self.read_page(connection, params, limit, offset)
        if total is not None:
            return items, total
        if check_access is not None:
            await check_access()
        return [], (await self.read_count(connection, params)) if offset else 0


def _as_sent(column: Any) -> Any:
    """A column read as the JSON value the API sends: a UUID as its text (PostgreSQL's text form is the API's), an
    enum's stored value as it is, instead of building Python objects that are only turned back into strings."""
    column_type = column.type
    if isinstance(column_type, Uuid):
        return cast(column, Text)
    if isinstance(column_type, Enum):
        return type_coerce(column, String)
    return column
