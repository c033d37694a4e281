"""Running Alembic from code, and knowing which revision the code expects and the database is at.

The configuration is built here, not read from pyproject.toml: the service ships its `migrations/` folder beside
the `app` package (the image copies both into /app), and needs nothing else of the source tree. Alembic is
imported only to migrate: the running service (the readiness probe) never loads it.
"""

import ast
import asyncio
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.database_errors import UNREACHABLE_ERRORS
from app.core.errors import DatabaseUnavailable
from app.core.telemetry import untraced

if TYPE_CHECKING:
    from alembic.config import Config

# Beside the `app` package, in the source tree and in the image alike.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Readiness probes must answer quickly, whatever the database does.
PROBE_TIMEOUT_SECONDS = 3.0
# New revision files are named `<date>_<revision>_<slug>.py` (`%%` escapes Alembic's interpolation).
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"


def _base_config() -> "Config":
    from alembic.config import Config

    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise FileNotFoundError(f"the migrations folder is missing: {MIGRATIONS_DIR} has no env.py")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE)
    return config


def alembic_config(settings: Settings) -> "Config":
    """Alembic configuration for the shipped migrations, bound to these settings' database."""
    config = _base_config()
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to a revision (under an advisory lock, see migrations/env.py)."""
    from alembic import command

    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Revert migrations down to a revision."""
    from alembic import command

    command.downgrade(alembic_config(settings), revision)


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code: the revisions no other revision builds on."""
    revisions, parents = _revision_graph()
    return revisions - parents


@lru_cache(maxsize=1)
def code_revisions() -> frozenset[str]:
    """Every revision shipped with this code."""
    return _revision_graph()[0]


SchemaState = Literal["current", "behind", "ahead"]


def schema_state(database: frozenset[str], heads: frozenset[str], known: frozenset[str]) -> SchemaState:
    """Where the database's schema stands against this code's migrations.

    `ahead`: it names a revision this code does not ship, so a newer release migrated it. Migrations keep the
    previous release working (expand, then contract a release later), so that code can still serve: during a
    rollout, the old pods stay ready after the new image's migration. `behind`: nothing or older revisions only.
    """
    if database == heads:
        return "current"
    if database and not database <= known:
        return "ahead"
    return "behind"


def _revision_graph() -> tuple[frozenset[str], frozenset[str]]:
    """The revisions shipped with this code and the ones others build on.

    Read from the revision files' own `revision` and `down_revision` assignments rather than through Alembic's
    script directory, which would load Alembic (and Mako) into every worker; a test checks that both agree.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        values = _module_constants(path, ("revision", "down_revision"))
        revision = values.get("revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        down = values.get("down_revision")
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):  # a merge revision
            parents.update(str(parent) for parent in down)
    return frozenset(revisions), frozenset(parents)


def _module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    """Literal values assigned to these names at the top level of a Python file (never executed)."""
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(), str(path)).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            name, value = node.target.id, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name, value = node.targets[0].id, node.value
        else:
            continue
        if name in names:
            found[name] = ast.literal_eval(value)
    return found


async def _read_revisions(engine: AsyncEngine) -> frozenset[str]:
    async with engine.connect() as connection:
        try:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        except ProgrammingError:  # no alembic_version table: nothing migrated yet
            return frozenset()
        return frozenset(row[0] for row in rows)


async def schema_revisions(engine: AsyncEngine) -> frozenset[str]:
    """The revision(s) the database's schema is at; DatabaseUnavailable when it does not answer in time."""
    try:
        # Probes ask every few seconds: keep their queries out of the traces (their server spans are excluded too).
        with untraced():
            return await asyncio.wait_for(_read_revisions(engine), PROBE_TIMEOUT_SECONDS)
    except UNREACHABLE_ERRORS as exc:
        raise DatabaseUnavailable(f"The database is unreachable: {exc}") from exc
