"""The benchmark: throughput and latency of the hot routes under gunicorn, start-up time and worker memory.

    uv run poe bench [--workers 1] [--concurrency 32] [--duration 5] [--repeat 5] [--json PATH] [--endpoint NAME]

Starts an embedded PostgreSQL (or uses TEST_DATABASE_URL), migrates a fresh database and seeds a data set, then
for each repeat starts gunicorn exactly as the image does (production settings, JSON access log at INFO) and
loads each endpoint with wrk (one thread, `--concurrency` connections, `--duration` seconds after a one-second
warm-up). Absolute numbers depend on the machine and its load; each endpoint's throughput is also given as a
ratio to GET /healthz measured in the same repeat, which survives a noisy machine. Statements per request come
from the service's own `http_request_db_queries` histogram (the response header is off, as in production).
Needs `wrk` (Debian: `apt-get install wrk`).
"""

import argparse
import compileall
import dataclasses
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import psycopg
from prometheus_client.parser import text_string_to_metric_families

from app.core.migrations import upgrade
from harness.api import make_settings
from harness.gunicorn import Server, gunicorn_server
from harness.paths import REPO_ROOT
from harness.postgres import create_database, drop_database, libpq_url, postgres_server
from harness.seed import Dataset, DataSize, seed
from loadtests import checks
from loadtests.options import check_ranges, parser_for

LUA_SCRIPT = Path(__file__).with_name("wrk_report.lua")
WRK_TIMEOUT_S = 2  # wrk's default: a request slower than this counts as a time-out
# User 0 sees teams 0 and 1: 52 projects, so a page of 50 is full and team 0's two oldest projects are off it;
# the POSTs go to the oldest one, so the growing project changes none of the lists measured.
DATA = DataSize(teams=4, members_per_team=5, projects_per_team=26, tasks_per_project=100)
READ_PROJECT = DATA.projects_per_team  # team 1's first project: 100 tasks
WRITE_PROJECT = 0
SERVER_ENV = {
    "ENVIRONMENT": "production",
    "LOG_LEVEL": "INFO",
    "EXPOSE_QUERY_COUNT": "false",
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    path: str  # {read} and {write} stand for the seeded projects
    route: str  # the route template the metrics use
    method: str = "GET"
    auth: bool = True
    body: str | None = None
    patch: bool = False  # PATCH a rotating set of tasks, each with its current version in If-Match


ENDPOINTS = (
    Endpoint("GET /healthz", "/healthz", "/healthz", auth=False),
    Endpoint("GET /api/v1/users/me", "/api/v1/users/me", "/api/v1/users/me"),
    Endpoint("GET /api/v1/projects?limit=50", "/api/v1/projects?limit=50", "/api/v1/projects"),
    Endpoint(
        "GET /api/v1/projects/{id}/tasks?limit=50",
        "/api/v1/projects/{read}/tasks?limit=50",
        "/api/v1/projects/{project_id}/tasks",
    ),
    Endpoint(
        "GET /api/v1/projects/{id}/tasks?limit=1",
        "/api/v1/projects/{read}/tasks?limit=1",
        "/api/v1/projects/{project_id}/tasks",
    ),
    Endpoint("GET /api/v1/users/me/tasks?limit=50", "/api/v1/users/me/tasks?limit=50", "/api/v1/users/me/tasks"),
    Endpoint(
        "POST /api/v1/projects/{id}/tasks",
        "/api/v1/projects/{write}/tasks",
        "/api/v1/projects/{project_id}/tasks",
        method="POST",
        body='{"title": "bench task", "priority": "high", "description": "Created by the benchmark."}',
    ),
    Endpoint("PATCH /api/v1/tasks/{id}", "/api/v1/tasks", "/api/v1/tasks/{task_id}", method="PATCH", patch=True),
)
HEALTHZ = ENDPOINTS[0].name


class BenchError(Exception):
    """The benchmark cannot run or saw a broken response: one line for the user."""


@dataclass(frozen=True)
class WrkResult:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int  # connection errors and non-2xx/3xx answers
    timeouts: int
    cpu_s: float  # wrk's own CPU time: the load generator shares the machine's cores with the service


def run_wrk(url: str, connections: int, seconds: float, headers: dict[str, str], env: dict[str, str]) -> WrkResult:
    """One wrk run; its numbers from the script's result line."""
    command = [
        "wrk",
        "--threads",
        "1",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        f"{WRK_TIMEOUT_S}s",
        "--script",
        str(LUA_SCRIPT),
    ]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    output = subprocess.run(  # noqa: S603  (fixed program, our arguments)
        [*command, url], capture_output=True, text=True, env={**os.environ, **env}, check=False
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped meanwhile
    line = next((ln for ln in output.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if output.returncode != 0 or line is None:
        raise BenchError(f"wrk failed on {url}: {(output.stderr or output.stdout).strip()[:300]}")
    raw = json.loads(line.removeprefix("BENCH_RESULT "))
    errors = raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["status_errors"]
    return WrkResult(
        rps=raw["requests"] / (raw["duration_us"] / 1e6),
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        errors=errors,
        timeouts=raw["timeouts"],
        cpu_s=(after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
    )


def wait_until_idle(metrics_url: str, timeout: float = 30) -> checks.Histogram:
    """Wait for the requests wrk left in flight when it stopped (their writes would race the next step); the
    statements histogram once they are done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = httpx.get(metrics_url, timeout=10).text
        in_progress = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            if family.name == "http_requests_in_progress"
            for sample in family.samples
        )
        if in_progress <= 0:
            return checks.parse_statements(text)
        time.sleep(0.1)
    raise BenchError(f"the service still had requests in progress {timeout:.0f} s after the load stopped")


def patch_target_count(concurrency: int) -> int:
    """Tasks the PATCH run rotates through: a task's turn comes round after this many requests, by when its last
    PATCH has been answered (at 250 PATCHes/s and a p99 of 1 s under contention, 1,024 turns last 4 s)."""
    return max(1024, 16 * concurrency)


def patch_targets(database_url: str, data: Dataset, count: int, path: Path) -> None:
    """Write "<task id> <version>" for `count` tasks of team 0, as they are now."""
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT t.id, t.version FROM tasks t JOIN projects p ON p.id = t.project_id"
            " WHERE p.team_id = %s AND p.id <> %s ORDER BY t.created_at LIMIT %s",
            (data.team_ids[0], data.project_ids[WRITE_PROJECT], count),
        ).fetchall()
    path.write_text("".join(f"{task_id} {version}\n" for task_id, version in rows))


def children_cpu_seconds(parent: psutil.Process) -> float:
    """CPU time `parent`'s children have used so far, exited ones included (reaped children count for it)."""
    times = parent.cpu_times()
    live = 0.0
    for child in parent.children():
        try:
            child_times = child.cpu_times()
        except psutil.NoSuchProcess:  # ended meanwhile: its time counts for the parent once reaped
            continue
        live += child_times.user + child_times.system
    return live + times.children_user + times.children_system


def worker_cpu_seconds(server: Server) -> float:
    """CPU time the gunicorn workers have used so far, recycled ones included."""
    return children_cpu_seconds(psutil.Process(server.process.pid))


def database_process(database_url: str) -> psutil.Process | None:
    """The PostgreSQL postmaster when the server runs on this machine (its backends are its children), else None."""
    try:
        with psycopg.connect(libpq_url(database_url)) as conn:
            row = conn.execute("SELECT current_setting('data_directory'), pg_backend_pid()").fetchone()
            return _postmaster_of(Path(row[0]), row[1]) if row else None
    except psycopg.Error:  # the setting is only readable by superusers and pg_read_all_settings
        return None


def _postmaster_of(data_directory: Path, backend_pid: int) -> psutil.Process | None:
    """The postmaster of that data directory here, if this (live) backend is its child: the same server, not
    another one whose data directory has that path on this machine (a container's, say)."""
    try:
        postmaster = psutil.Process(int((data_directory / "postmaster.pid").read_text().split()[0]))
        return postmaster if backend_pid in {child.pid for child in postmaster.children()} else None
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def database_cpu_seconds(postmaster: psutil.Process | None) -> float | None:
    """CPU time PostgreSQL's processes have used so far, all of them (autovacuum too; None when it runs elsewhere)."""
    if postmaster is None:
        return None
    times = postmaster.cpu_times()
    return times.user + times.system + children_cpu_seconds(postmaster)


def process_rss_mib(server: Server) -> tuple[float, float]:
    """(largest worker RSS, master RSS) in MiB."""
    master = psutil.Process(server.process.pid)
    workers = [child.memory_info().rss for child in master.children()]
    return (max(workers) / 2**20 if workers else 0.0), master.memory_info().rss / 2**20


@dataclass(frozen=True)
class Measurement:
    """One endpoint in one repeat."""

    result: WrkResult
    statements: float | None  # per request (None: the route counted no request)
    cpu_ms: float  # worker CPU per request: what a request costs, whatever else the machine runs
    db_cpu_ms: float | None  # PostgreSQL's CPU per request (None: the server is not on this machine)
    client_cpu_ms: float  # wrk's CPU per request


@dataclass(frozen=True)
class Repeat:
    """One start of the service with every endpoint loaded once."""

    startup_s: float
    results: dict[str, Measurement]  # by endpoint name
    worker_rss_mib: float  # the largest worker's, after load
    master_rss_mib: float


def one_repeat(
    database_url: str,
    data: Dataset,
    endpoints: Sequence[Endpoint],
    args: argparse.Namespace,
    workdir: Path,
    postmaster: psutil.Process | None,
) -> Repeat:
    """Start the service, load each endpoint once, stop it."""
    with gunicorn_server(database_url, workdir, env={**SERVER_ENV, **args.settings}, workers=args.workers) as server:
        token_response = httpx.post(
            f"{server.api}/api/v1/auth/token",
            data={"username": data.user_emails[0], "password": data.password},
            timeout=30,
        )
        if token_response.status_code != 200:
            raise BenchError(f"login failed: HTTP {token_response.status_code} {token_response.text[:200]}")
        auth = {"Authorization": f"Bearer {token_response.json()['access_token']}"}
        results: dict[str, Measurement] = {}
        worker_rss = 0.0
        for endpoint in endpoints:
            path = endpoint.path.format(read=data.project_ids[READ_PROJECT], write=data.project_ids[WRITE_PROJECT])
            env: dict[str, str] = {}
            if endpoint.method != "GET":
                env["BENCH_METHOD"] = endpoint.method
            if endpoint.body is not None:
                env["BENCH_BODY"] = endpoint.body
            headers = auth if endpoint.auth else {}
            targets = workdir / "patch-targets.txt"
            if endpoint.patch:
                env["BENCH_PATCH_FILE"] = str(targets)
                patch_targets(database_url, data, patch_target_count(args.concurrency), targets)
            run_wrk(f"{server.api}{path}", args.concurrency, 1, headers, env)  # warm-up
            before = wait_until_idle(server.metrics)
            if endpoint.patch:
                patch_targets(database_url, data, patch_target_count(args.concurrency), targets)
            cpu_before, db_cpu_before = worker_cpu_seconds(server), database_cpu_seconds(postmaster)
            result = run_wrk(f"{server.api}{path}", args.concurrency, args.duration, headers, env)
            after = wait_until_idle(server.metrics)
            cpu = worker_cpu_seconds(server) - cpu_before
            db_cpu_after = database_cpu_seconds(postmaster)
            db_cpu = None if db_cpu_before is None or db_cpu_after is None else db_cpu_after - db_cpu_before
            served = checks.between(before, after, endpoint.route)
            ms_per_request = 1000 / served.requests if served.requests else 0.0
            results[endpoint.name] = Measurement(
                result,
                served.per_request,
                cpu * ms_per_request,
                None if db_cpu is None else db_cpu * ms_per_request,
                result.cpu_s * ms_per_request,
            )
            worker_rss = max(worker_rss, process_rss_mib(server)[0])
            print(f"  {endpoint.name}: {result.rps:,.0f} req/s, p99 {result.p99_ms:.0f} ms", file=sys.stderr)
        master_rss = process_rss_mib(server)[1]
    return Repeat(server.ready_after, results, worker_rss, master_rss)


@dataclass(frozen=True)
class Spread:
    """A figure over the repeats."""

    median: float
    min: float
    max: float


def spread(values: Sequence[float], digits: int = 1) -> Spread:
    return Spread(round(statistics.median(values), digits), round(min(values), digits), round(max(values), digits))


@dataclass(frozen=True)
class EndpointSummary:
    """One endpoint over the repeats: medians (sums for errors and time-outs)."""

    rps: Spread
    p50_ms: float
    p95_ms: float
    p99_ms: float
    ratio_to_healthz: float
    queries: float | None  # SQL statements per request
    cpu_ms: float
    db_cpu_ms: float | None
    client_cpu_ms: float
    errors: int
    timeouts: int


def summarise(repeats: Sequence[Repeat], endpoints: Sequence[Endpoint]) -> dict[str, EndpointSummary]:
    """Medians over the repeats; ratios are taken within each repeat, then their median."""
    summary: dict[str, EndpointSummary] = {}
    for endpoint in endpoints:
        runs = [repeat.results[endpoint.name] for repeat in repeats]
        ratios = [repeat.results[endpoint.name].result.rps / repeat.results[HEALTHZ].result.rps for repeat in repeats]
        statements = [run.statements for run in runs if run.statements is not None]
        db_cpu = [run.db_cpu_ms for run in runs if run.db_cpu_ms is not None]
        summary[endpoint.name] = EndpointSummary(
            rps=spread([run.result.rps for run in runs]),
            p50_ms=round(statistics.median(run.result.p50_ms for run in runs), 1),
            p95_ms=round(statistics.median(run.result.p95_ms for run in runs), 1),
            p99_ms=round(statistics.median(run.result.p99_ms for run in runs), 1),
            ratio_to_healthz=round(statistics.median(ratios), 3),
            queries=round(statistics.median(statements), 2) if statements else None,
            cpu_ms=round(statistics.median(run.cpu_ms for run in runs), 3),
            db_cpu_ms=round(statistics.median(db_cpu), 3) if db_cpu else None,
            client_cpu_ms=round(statistics.median(run.client_cpu_ms for run in runs), 3),
            errors=sum(run.result.errors for run in runs),
            timeouts=sum(run.result.timeouts for run in runs),
        )
    return summary


FULL_PAGE, ONE_ROW = "GET /api/v1/projects/{id}/tasks?limit=50", "GET /api/v1/projects/{id}/tasks?limit=1"


def page_size_ratio(repeats: Sequence[Repeat]) -> Spread | None:
    """Throughput of a 50-task page over a 1-task page, taken within each repeat (like the ratios to /healthz)."""
    if not repeats or not {FULL_PAGE, ONE_ROW} <= repeats[0].results.keys():
        return None
    ratios = [repeat.results[FULL_PAGE].result.rps / repeat.results[ONE_ROW].result.rps for repeat in repeats]
    return spread(ratios, 3)


def _output(argv: list[str]) -> str | None:
    """A command's first output line, or None when it is missing or fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode in (0, 1) and lines else None


def compile_bytecode() -> float:
    """Compile the environment's and the service's Python files, as the image's build does (UV_COMPILE_BYTECODE):
    without .pyc files (PYTHONDONTWRITEBYTECODE, a fresh checkout) every start-up would compile everything."""
    started = time.monotonic()
    folders = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"], str(REPO_ROOT / "app")}
    for folder in sorted(folders):
        compileall.compile_dir(folder, quiet=2, workers=0)
    return time.monotonic() - started


@dataclass(frozen=True)
class Machine:
    """What the figures were measured on."""

    cpus: int
    load_average: list[float]
    python: str
    platform: str
    postgresql: str | None
    wrk: str | None
    commit: str | None


def machine(database_url: str) -> Machine:
    with psycopg.connect(libpq_url(database_url)) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    wrk_version = _output(["wrk", "--version"])
    return Machine(
        cpus=len(os.sched_getaffinity(0)),
        load_average=[round(value, 2) for value in os.getloadavg()],
        python=platform.python_version(),
        platform=platform.platform(),
        postgresql=row[0] if row else None,
        wrk=wrk_version.split("Copyright")[0].strip() if wrk_version else None,
        commit=_output(["git", "describe", "--always", "--dirty"]),
    )


@dataclass(frozen=True)
class Config:
    """How the benchmark ran."""

    workers: int
    concurrency: int
    duration: int
    repeat: int
    wrk_threads: int
    wrk_timeout_s: int
    settings: dict[str, str]
    data: dict[str, int]


@dataclass(frozen=True)
class Memory:
    """RSS after load, in MiB."""

    worker: Spread  # the largest worker's
    master: Spread


@dataclass(frozen=True)
class Report:
    """The benchmark's results (written as JSON with --json, field for field)."""

    machine: Machine
    config: Config
    endpoints: dict[str, EndpointSummary]
    page_size_ratio: Spread | None
    startup_s: Spread
    rss_mib: Memory


def render_table(report: Report) -> str:
    config = report.config
    lines = [
        f"Bosun benchmark: {config.workers} worker(s), {config.concurrency} connections, "
        f"{config.duration} s x {config.repeat} repeats; medians (min-max)",
        f"{'endpoint':<42} {'req/s':>22} {'/healthz':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'timeouts':>8} {'SQL/req':>8} {'CPU ms: app':>11} {'db':>5} {'wrk':>5}",
    ]
    for name, row in report.endpoints.items():
        rps = row.rps
        rps_text = f"{rps.median:,.0f} ({rps.min:,.0f}-{rps.max:,.0f})"
        queries = "-" if row.queries is None else f"{row.queries:g}"
        db_cpu = "-" if row.db_cpu_ms is None else f"{row.db_cpu_ms:.2f}"
        lines.append(
            f"{name:<42} {rps_text:>22} {row.ratio_to_healthz:>9.1%} {row.p50_ms:>8.1f} {row.p95_ms:>8.1f} "
            f"{row.p99_ms:>8.1f} {row.errors:>7} {row.timeouts:>8} {queries:>8} {row.cpu_ms:>11.2f} "
            f"{db_cpu:>5} {row.client_cpu_ms:>5.2f}"
        )
    page_ratio = report.page_size_ratio
    if page_ratio is not None:
        lines.append(
            f"task list limit=50 vs limit=1 (same repeat): {page_ratio.median:.0%} "
            f"({page_ratio.min:.0%}-{page_ratio.max:.0%})"
        )
    startup, rss = report.startup_s, report.rss_mib
    lines.append(f"start-up to the first 200 from /readyz: {startup.median} s ({startup.min}-{startup.max})")
    lines.append(
        f"RSS after load: largest worker {rss.worker.median} MiB ({rss.worker.min}-{rss.worker.max}),"
        f" gunicorn master {rss.master.median} MiB"
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = parser_for("bench", __doc__)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per endpoint (default 5)")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per endpoint (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the service (e.g. DB_POOL_SIZE=5), to compare configurations",
    )
    names = [endpoint.name for endpoint in ENDPOINTS]
    parser.add_argument(
        "--endpoint", action="append", choices=names, metavar="NAME", help="measure only these (GET /healthz always)"
    )
    args = parser.parse_args(argv)
    args.settings = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier() or "\x00" in value:
            parser.error(f"--set takes NAME=VALUE, not {item!r}")
        args.settings[name] = value
    check_ranges(
        parser, args, (("workers", 1, 64), ("concurrency", 1, 10000), ("duration", 1, 3600), ("repeat", 1, 100))
    )
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("bench: wrk is not installed; on Debian or Ubuntu: sudo apt-get update && sudo apt-get install -y wrk")
    chosen = set(args.endpoint or [endpoint.name for endpoint in ENDPOINTS]) | {HEALTHZ}
    endpoints = [endpoint for endpoint in ENDPOINTS if endpoint.name in chosen]
    print(f"bytecode compiled in {compile_bytecode():.1f} s", file=sys.stderr)
    try:
        with postgres_server() as admin_url:
            database_url = create_database(admin_url, "bosun_bench")
            try:
                upgrade(make_settings(database_url))
                data = seed(database_url, DATA)
                info = machine(database_url)
                postmaster = database_process(database_url)
                repeats: list[Repeat] = []
                for number in range(1, args.repeat + 1):
                    print(f"repeat {number}/{args.repeat}", file=sys.stderr)
                    with tempfile.TemporaryDirectory(prefix="bosun-bench-") as folder:
                        repeats.append(one_repeat(database_url, data, endpoints, args, Path(folder), postmaster))
            finally:
                drop_database(admin_url, database_url)
    except BenchError as exc:
        sys.exit(f"bench: {exc}")
    report = Report(
        machine=info,
        config=Config(
            workers=args.workers,
            concurrency=args.concurrency,
            duration=args.duration,
            repeat=args.repeat,
            wrk_threads=1,
            wrk_timeout_s=WRK_TIMEOUT_S,
            settings=args.settings,
            data={"users": DATA.users, "projects": DATA.projects, "tasks": DATA.tasks},
        ),
        endpoints=summarise(repeats, endpoints),
        page_size_ratio=page_size_ratio(repeats),
        startup_s=spread([repeat.startup_s for repeat in repeats], 2),
        rss_mib=Memory(
            worker=spread([repeat.worker_rss_mib for repeat in repeats]),
            master=spread([repeat.master_rss_mib for repeat in repeats]),
        ),
    )
    print(render_table(report))
    if args.json is not None:
        args.json.write_text(json.dumps(dataclasses.asdict(report), indent=2) + "\n")


if __name__ == "__main__":
    main()
