"""Running Alembic from code, and knowing which revision the code expects and the database is at.

The configuration is built here, not read from pyproject.toml: the service ships its `migrations/` folder beside
the `app` package (the image copies both into /app), and needs nothing else of the source tree.
"""

import asyncio
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.config import Settings
from app.core.database_errors import UNREACHABLE_ERRORS
from app.core.errors import DatabaseUnavailable

# Beside the `app` package, in the source tree and in the image alike.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# Readiness probes must answer quickly, whatever the database does.
PROBE_TIMEOUT_SECONDS = 3.0
# New revision files are named `<date>_<revision>_<slug>.py` (`%%` escapes Alembic's interpolation).
FILE_TEMPLATE = "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"


def _base_config() -> Config:
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise FileNotFoundError(f"the migrations folder is missing: {MIGRATIONS_DIR} has no env.py")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("file_template", FILE_TEMPLATE)
    return config


def alembic_config(settings: Settings) -> Config:
    """Alembic configuration for the shipped migrations, bound to these settings' database."""
    config = _base_config()
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations up to a revision (under an advisory lock, see migrations/env.py)."""
    command.upgrade(alembic_config(settings), revision)


def downgrade(settings: Settings, revision: str) -> None:
    """Revert migrations down to a revision."""
    command.downgrade(alembic_config(settings), revision)


@lru_cache(maxsize=1)
def code_heads() -> frozenset[str]:
    """The head revision(s) of the migrations shipped with this code."""
    return frozenset(ScriptDirectory.from_config(_base_config()).get_heads())


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
        with suppress_instrumentation():
            return await asyncio.wait_for(_read_revisions(engine), PROBE_TIMEOUT_SECONDS)
    except UNREACHABLE_ERRORS as exc:
        raise DatabaseUnavailable(f"The database is unreachable: {exc}") from exc
