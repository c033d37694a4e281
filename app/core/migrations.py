"""Running Alembic from code, and knowing which revision the code expects."""

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from app.core.config import Settings

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(settings: Settings) -> Config:
    """Alembic configuration (from pyproject.toml) bound to these settings' database."""
    config = Config(toml_file=str(PROJECT_ROOT / "pyproject.toml"))
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
    script = ScriptDirectory.from_config(Config(toml_file=str(PROJECT_ROOT / "pyproject.toml")))
    return frozenset(script.get_heads())
