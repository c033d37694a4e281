"""Benchmark the production process: start-up time, worker memory, and requests/s under gunicorn.

    uv run python -m loadtests.bench_runtime [--runs 5] [--workers 2] [--duration 10]

Starts an embedded PostgreSQL (or uses TEST_DATABASE_URL), migrates a fresh database, then for each run starts
gunicorn exactly as the image does and measures: seconds from exec to the first 200 from /readyz, requests/s of
GET /healthz and GET /api/v1/users/me (wrk, 2 threads, 32 connections), and each worker's RSS after that load.
Prints the median of the runs. Needs `wrk` on PATH (Debian package `wrk`).
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import psutil

from app.core.migrations import upgrade
from harness.api import make_settings
from harness.gunicorn import gunicorn_server
from harness.postgres import create_database, drop_database, postgres_server


def wrk(url: str, seconds: int, headers: dict[str, str]) -> float:
    """Requests per second that wrk measured."""
    command = ["wrk", "--threads", "2", "--connections", "32", "--duration", f"{seconds}s", "--latency"]
    for name, value in headers.items():
        command += ["--header", f"{name}: {value}"]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout  # noqa: S603
    non_2xx = [line for line in output.splitlines() if "Non-2xx" in line]
    if non_2xx:
        raise SystemExit(f"wrk saw errors for {url}: {non_2xx[0].strip()}")
    line = next(line for line in output.splitlines() if line.startswith("Requests/sec:"))
    return float(line.split()[1])


def one_run(database_url: str, workers: int, seconds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        env = {"LOG_LEVEL": "WARNING", "EXPOSE_QUERY_COUNT": "false"}
        with gunicorn_server(database_url, Path(folder), env=env, workers=workers) as server:
            startup = server.ready_after
            email = f"bench-{Path(folder).name}@example.com"
            httpx.post(f"{server.api}/api/v1/auth/signup", json={"email": email, "password": "bench-password"})
            token = httpx.post(
                f"{server.api}/api/v1/auth/token", data={"username": email, "password": "bench-password"}
            ).json()["access_token"]
            wrk(f"{server.api}/healthz", 2, {})  # warm-up
            healthz = wrk(f"{server.api}/healthz", seconds, {})
            me = wrk(f"{server.api}/api/v1/users/me", seconds, {"Authorization": f"Bearer {token}"})
            children = psutil.Process(server.process.pid).children()
            rss = [child.memory_info().rss / 2**20 for child in children]
    return {
        "startup_to_ready_s": startup,
        "healthz_rps": healthz,
        "users_me_rps": me,
        "worker_rss_mib_max": max(rss),
        "worker_rss_mib_mean": statistics.fmean(rss),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint and run")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench_runtime: wrk is not installed (apt-get install wrk)")
    with postgres_server() as admin_url:
        database_url = create_database(admin_url, "bosun_bench")
        try:
            upgrade(make_settings(database_url))
            runs = [one_run(database_url, args.workers, args.duration) for _ in range(args.runs)]
        finally:
            drop_database(admin_url, database_url)
    medians = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
    print(json.dumps({"workers": args.workers, "runs": args.runs, "median": medians, "all": runs}, indent=2))


if __name__ == "__main__":
    main()
