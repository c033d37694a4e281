"""Lint the SQL of every Alembic revision with squawk; exit 1 naming each revision and rule that fails.

    uv run poe lint-migrations [--migrations DIR] [--sql-dir DIR]

Each revision is rendered offline (`alembic upgrade <previous>:<revision> --sql`, through migrations/env.py, so the
file holds exactly what runs: the transaction, the lock and statement timeouts, autocommit blocks) into one SQL
file, and squawk checks the files with the committed rule set (migrations/squawk.toml). A revision that has to break
a rule says so itself, with the reason, as a module-level mapping:

    squawk_ignore = {"ban-drop-column": "tasks.legacy_flag: unread since release 1.4"}

That declaration is the only exception the lint honours: squawk's own `-- squawk-ignore` comments in the SQL are
refused, and a declared rule that squawk no longer reports is an error (so stale exceptions do not pile up).
"""

import argparse
import io
import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from app.core.config import Settings
from app.core.migrations import MIGRATIONS_DIR
from harness.paths import REPO_ROOT
from harness.squawk import NOT_BUILT, built, squawk_path

SQUAWK_CONFIG = MIGRATIONS_DIR / "squawk.toml"


@dataclass(frozen=True)
class Finding:
    """One problem in one revision."""

    revision: str
    path: str
    rule: str
    message: str
    sql: str = ""

    def __str__(self) -> str:
        where = f" [{self.sql}]" if self.sql else ""
        return f"revision {self.revision} ({self.path}): {self.rule}: {self.message}{where}"


def alembic_config(migrations: Path, settings: Settings | None = None) -> Config:
    """An Alembic configuration for a migrations folder (and a database; offline rendering needs none)."""
    config = Config()
    config.set_main_option("script_location", str(migrations))
    config.attributes["settings"] = settings or Settings.from_mapping({})
    return config


def revisions(migrations: Path) -> list[Script]:
    """Every revision, oldest first."""
    return list(reversed(list(ScriptDirectory.from_config(alembic_config(migrations)).walk_revisions())))


def render(migrations: Path, script: Script) -> str:
    """The SQL that upgrading from the revision's parent to it runs (the first one starts from an empty database)."""
    down = script.down_revision
    if isinstance(down, tuple | list):
        # Rendering `<parent>:<merge>` would repeat the other branch's SQL under the merge's name: keep history linear.
        raise SystemExit(f"lint-migrations: {script.revision} merges {', '.join(down)}: put one branch on the other")
    config = alembic_config(migrations)
    config.output_buffer = io.StringIO()
    command.upgrade(config, f"{down}:{script.revision}" if down else script.revision, sql=True)
    return config.output_buffer.getvalue()


def declared_ignores(script: Script) -> dict[str, str]:
    """The rules a revision declares it breaks, with their reasons (module-level `squawk_ignore`)."""
    declared = getattr(script.module, "squawk_ignore", {})
    if not isinstance(declared, dict) or not all(
        isinstance(rule, str) and isinstance(reason, str) and rule.strip() and reason.strip()
        for rule, reason in declared.items()
    ):
        raise ValueError('squawk_ignore must map rule names to reasons, e.g. {"ban-drop-column": "why it is safe"}')
    return declared


def _squawk(files: list[Path], config: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [str(squawk_path()), "--config", str(config), "--reporter", "json", *map(str, files)],
        capture_output=True,
        text=True,
    )
    try:
        violations = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        violations = None
    if result.returncode not in (0, 1) or not isinstance(violations, list):
        raise SystemExit(f"lint-migrations: squawk failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
    return violations


def lint(migrations: Path = MIGRATIONS_DIR, config: Path = SQUAWK_CONFIG, sql_dir: Path | None = None) -> list[Finding]:
    """Render every revision of `migrations` and lint it; the findings that are not declared exceptions."""
    findings: list[Finding] = []
    scripts = revisions(migrations)
    ignores: dict[str, dict[str, str]] = {}
    for script in scripts:
        try:
            ignores[script.revision] = declared_ignores(script)
        except ValueError as exc:
            ignores[script.revision] = {}
            findings.append(_finding(script, "squawk_ignore", str(exc)))
    with tempfile.TemporaryDirectory(prefix="bosun-migration-sql-") as tmp:
        folder = sql_dir or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        files: dict[str, tuple[Script, list[str]]] = {}
        for number, script in enumerate(scripts, start=1):
            path = folder / f"{number:04d}_{script.revision}.sql"
            try:
                text = render(migrations, script)
            except Exception as exc:  # a revision that cannot be rendered cannot be linted: that is its finding
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                findings.append(_finding(script, "offline-render", f"alembic upgrade --sql fails: {reason}"))
                continue
            path.write_text(text)
            files[str(path)] = (script, text.splitlines())
            if "squawk-ignore" in text.lower():
                message = "squawk-ignore comments are not honoured: declare squawk_ignore in the revision"
                findings.append(_finding(script, "squawk-ignore", message))
        reported: dict[str, set[str]] = {script.revision: set() for script in scripts}
        for violation in _squawk([Path(name) for name in files], config):
            script, lines = files[str(violation["file"])]
            rule = str(violation["rule_name"])
            reported[script.revision].add(rule)
            if rule in ignores[script.revision]:
                continue
            line = int(str(violation.get("line", 0)))
            sql = lines[line].strip()[:120] if 0 <= line < len(lines) else ""
            message = " ".join(str(violation[key]) for key in ("message", "help") if violation.get(key))
            findings.append(_finding(script, rule, message, sql))
    for script in scripts:
        for rule in sorted(set(ignores[script.revision]) - reported[script.revision]):
            message = "declared in squawk_ignore but squawk does not report it: remove it"
            findings.append(_finding(script, rule, message))
    return findings


def _finding(script: Script, rule: str, message: str, sql: str = "") -> Finding:
    path = Path(script.path)
    shown = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    return Finding(script.revision, str(shown), rule, message, sql)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="lint-migrations", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--migrations", type=Path, default=MIGRATIONS_DIR, help="Alembic folder (default: migrations/)")
    parser.add_argument("--sql-dir", type=Path, help="keep the rendered SQL here (default: a temporary folder)")
    args = parser.parse_args(argv)
    if not built():
        raise SystemExit(f"lint-migrations: {NOT_BUILT}")
    if not (args.migrations / "env.py").is_file() or not (args.migrations / "versions").is_dir():
        raise SystemExit(f"lint-migrations: {args.migrations} is not an Alembic folder (env.py, versions/)")
    try:
        findings = lint(args.migrations, SQUAWK_CONFIG, args.sql_dir)
    except (OSError, CommandError) as exc:
        raise SystemExit(f"lint-migrations: {exc}") from exc
    count = len(revisions(args.migrations))
    for finding in findings:
        print(finding)
    if findings:
        raise SystemExit(f"lint-migrations: {len(findings)} problem(s) in {count} revision(s)")
    print(f"lint-migrations: {count} revision(s) pass squawk {SQUAWK_CONFIG.relative_to(REPO_ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
