"""The load test end to end on this machine: `uv run poe loadtest [options]`.

Starts an embedded PostgreSQL (or uses TEST_DATABASE_URL), migrates a fresh database, seeds a realistic data set,
starts gunicorn exactly as the image does (its emails go to an SMTP server here that files them in a Maildir, where
locust reads invitation tokens), runs the locust scenario headless against it, writes locust's CSV and
HTML reports to a folder under loadtests/reports/ (git-ignored), prints a summary table, and stops everything it
started. Exits with locust's verdict: 0 when every threshold and statement budget held, 1 otherwise (the broken
ones are named). `--smoke` is the short deterministic run CI uses: every journey once, no latency thresholds.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from app.core.migrations import upgrade
from harness.api import make_settings
from harness.gunicorn import BIN, gunicorn_server
from harness.paths import REPO_ROOT
from harness.postgres import create_database, drop_database, postgres_server
from harness.seed import DataSize, seed
from harness.smtp import smtp_to_maildir
from loadtests.options import check_ranges, parser_for

REPORTS = REPO_ROOT / "loadtests" / "reports"
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"
SMOKE_DATA = DataSize(teams=3, members_per_team=3, projects_per_team=3, tasks_per_project=45)
SMOKE_TIME_LIMIT = "180s"  # an upper bound: a smoke run stops by itself when every user is done


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = parser_for("loadtest", __doc__)
    parser.add_argument("--users", type=int, default=30, help="simulated users (default 30)")
    parser.add_argument("--spawn-rate", type=float, default=5, help="users started per second (default 5)")
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (default 60)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    size = DataSize()
    parser.add_argument("--teams", type=int, default=size.teams, help=f"seeded teams (default {size.teams})")
    parser.add_argument("--members-per-team", type=int, default=size.members_per_team)
    parser.add_argument("--projects-per-team", type=int, default=size.projects_per_team)
    parser.add_argument("--tasks-per-project", type=int, default=size.tasks_per_project)
    parser.add_argument("--out", type=Path, help="report folder (default: loadtests/reports/<date-time>)")
    parser.add_argument("--smoke", action="store_true", help="every journey once, small data set, no latency limits")
    args = parser.parse_args(argv)
    check_ranges(parser, args, (("users", 1, 10000), ("duration", 1, 86400), ("workers", 1, 64)))
    if not 0 < args.spawn_rate <= 1000:
        parser.error(f"--spawn-rate must be above 0 and at most 1000, not {args.spawn_rate}")
    try:
        args.size = (
            SMOKE_DATA
            if args.smoke
            else DataSize(args.teams, args.members_per_team, args.projects_per_team, args.tasks_per_project)
        )
    except ValueError as exc:
        parser.error(str(exc))
    return args


def locust_argv(args: argparse.Namespace, host: str, out: Path, seeded_users: int) -> list[str]:
    users, rate, run_time = (
        (3, 3.0, SMOKE_TIME_LIMIT) if args.smoke else (args.users, args.spawn_rate, f"{args.duration}s")
    )
    argv = [
        str(BIN / "locust"),
        "--locustfile",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(rate),
        "--run-time",
        run_time,
        "--stop-timeout",
        "5",
        "--host",
        host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "report.html"),
        "--only-summary",
        "--seeded-users",
        str(seeded_users),
    ]
    return [*argv, "--smoke"] if args.smoke else argv


def summary_table(out: Path) -> str:
    """Per request name: requests, failures, median/p95/p99 and the most SQL statements seen against the budget."""
    stats_file = out / "locust_stats.csv"
    if not stats_file.exists():
        return "(locust wrote no statistics)"
    with stats_file.open() as file:
        rows = list(csv.DictReader(file))
    statements_file = out / "locust_statements.json"
    statements = json.loads(statements_file.read_text()) if statements_file.exists() else {}
    from loadtests.checks import load_budgets

    budgets = load_budgets()
    lines = [
        f"{'request':<52} {'count':>7} {'fail':>5} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'SQL max/budget':>15}",
    ]
    for row in rows:
        name = row["Name"]
        sql = f"{statements.get(name, '-')}/{budgets.get(name, '-')}" if name != "Aggregated" else ""
        lines.append(
            f"{name:<52} {row['Request Count']:>7} {row['Failure Count']:>5} {row['50%']:>7} {row['95%']:>7} "
            f"{row['99%']:>7} {sql:>15}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    out: Path = args.out or REPORTS / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    with postgres_server() as admin_url:
        database_url = create_database(admin_url, "bosun_loadtest")
        try:
            upgrade(make_settings(database_url))
            started = time.monotonic()
            data = seed(database_url, args.size)
            print(
                f"seeded {args.size.teams} teams, {args.size.users} users, {args.size.projects} projects, "
                f"{args.size.tasks} tasks in {time.monotonic() - started:.1f} s",
                file=sys.stderr,
            )
            with (
                tempfile.TemporaryDirectory(prefix="bosun-loadtest-") as folder,
                smtp_to_maildir(Path(folder) / "mail") as (smtp_host, smtp_port),
            ):
                env = {
                    "ENVIRONMENT": "staging",
                    "EXPOSE_QUERY_COUNT": "true",
                    "LOG_LEVEL": "WARNING",
                    # Invitations reach a Maildir, where locust reads their tokens.
                    "SMTP_HOST": smtp_host,
                    "SMTP_PORT": str(smtp_port),
                    "SMTP_STARTTLS": "false",
                }
                with gunicorn_server(database_url, Path(folder), env=env, workers=args.workers) as server:
                    print(f"service ready in {server.ready_after:.1f} s: {server.api}", file=sys.stderr)
                    locust_env = {
                        **os.environ,
                        "BOSUN_LOADTEST_SEEDED_PASSWORD": data.password,
                        "BOSUN_LOADTEST_ADMIN_EMAIL": data.superuser_email,
                        "BOSUN_LOADTEST_ADMIN_PASSWORD": data.password,
                        "BOSUN_LOADTEST_MAIL_DIR": str(Path(folder) / "mail"),
                    }
                    with (out / "locust.log").open("w") as log:
                        result = subprocess.run(  # noqa: S603  (our own argv)
                            locust_argv(args, server.api, out, len(data.user_emails)),
                            cwd=REPO_ROOT,
                            env=locust_env,
                            stdout=log,
                            stderr=subprocess.STDOUT,
                            check=False,
                        )
                (out / "server.log").write_bytes(server.log_path.read_bytes())
        finally:
            drop_database(admin_url, database_url)
    print(summary_table(out))
    verdicts = [line for line in (out / "locust.log").read_text().splitlines() if "load test " in line]
    print("\n".join(verdicts) or "(no verdict from locust: see locust.log)")
    print(f"reports: {out}", file=sys.stderr)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
