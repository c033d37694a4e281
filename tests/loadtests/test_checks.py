"""The rules that pass or fail a load-test run, on plain numbers and files."""

import math
from pathlib import Path

import pytest

from loadtests.checks import (
    ConfigError,
    Latency,
    RouteStats,
    Thresholds,
    between,
    check_run,
    check_statements,
    load_budgets,
    load_thresholds,
    metrics_targets,
    over_budget,
    parse_statements,
    required_routes,
    route_budgets,
)

THRESHOLDS = Thresholds(0.01, Latency(500, 1000), {"POST /api/v1/auth/token": Latency(1500, 3000)})


def test_shipped_files_load() -> None:
    budgets = load_budgets()
    assert budgets["GET /api/v1/users/me"] == 1
    assert budgets["GET /api/v1/projects/{project_id}/tasks"] == 4
    thresholds = load_thresholds()
    assert 0 < thresholds.max_failure_ratio < 1
    assert thresholds.latency("POST /api/v1/auth/token").p95 > thresholds.latency("GET /api/v1/users/me").p95


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "needs a [statements] table"),
        ("[statements]\n", "needs a [statements] table"),
        ('[statements]\n"GET /x" = -1\n', "zero or more"),
        ('[statements]\n"GET /x" = 1.5\n', "whole number"),
        ('[statements]\n"GET /x" = "many"\n', "whole number"),
        ('[statements]\n"GET /x" = true\n', "whole number"),
        ('[statements]\n"/x" = 1\n', "'<METHOD> <route template>'"),
        ('[statements]\n"GET x" = 1\n', "'<METHOD> <route template>'"),
        ("[statements\n", "not valid TOML"),
        ("\x00", "not valid TOML"),
    ],
)
def test_bad_budgets_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "budgets.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_budgets(path)


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_budgets(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[latency.default]\np95 = 1\np99 = 2\n", "needs \\[run\\]"),
        ("[run]\nmax_failure_ratio = 2\n[latency.default]\np95 = 1\np99 = 2\n", "ratio from 0 to 1"),
        ("[run]\nmax_failure_ratio = -0.1\n[latency.default]\np95 = 1\np99 = 2\n", "zero or more"),
        ("[run]\nmax_failure_ratio = nan\n[latency.default]\np95 = 1\np99 = 2\n", "zero or more"),
        ("[run]\nmax_failure_ratio = 0\n", "needs \\[latency.default\\]"),
        ("[run]\nmax_failure_ratio = 0\n[latency.default]\np95 = 1\n", "exactly p95 and p99"),
        ("[run]\nmax_failure_ratio = 0\n[latency.default]\np95 = 1\np99 = 2\np50 = 1\n", "exactly p95 and p99"),
        ("[run]\nmax_failure_ratio = 0\n[latency]\ndefault = {p95 = 1, p99 = 2}\nroutes = 3\n", "must be a table"),
    ],
)
def test_bad_thresholds_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "thresholds.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_thresholds(path)


def test_over_budget() -> None:
    budgets = {"GET /a": 2}
    assert over_budget("GET /a", "2", budgets) is None
    assert over_budget("GET /a", "3", budgets) == "3 SQL statements, budget 2"
    assert over_budget("GET /a", None, budgets) is None
    assert over_budget("GET /b", "99", budgets) is None
    assert over_budget("GET /a", "x", budgets) == "X-Query-Count 'x' is not a number"


def route(name: str, requests: int = 10, failures: int = 0, p95: float = 10, p99: float = 20) -> RouteStats:
    return RouteStats(name, requests, failures, p95, p99)


def test_a_good_run_passes() -> None:
    stats = [route("GET /a"), route("POST /api/v1/auth/token", p95=1200, p99=2500)]
    assert check_run(stats, THRESHOLDS) == []


def test_check_run_names_what_broke() -> None:
    stats = [route("GET /a", requests=100, failures=2, p95=600, p99=900), route("GET /b", p99=1001)]
    assert check_run(stats, THRESHOLDS) == [
        "failure ratio 1.82% (2 of 110) is above 1.00%",
        "GET /a: p95 600 ms is above 500 ms",
        "GET /b: p99 1001 ms is above 1000 ms",
    ]
    assert check_run(stats, THRESHOLDS, latency=False) == ["failure ratio 1.82% (2 of 110) is above 1.00%"]


def test_smoke_rules() -> None:
    stats = [route("GET /a", requests=1, p95=9999, p99=9999), route("GET /b", requests=0)]
    problems = check_run(stats, THRESHOLDS, latency=False, required=["GET /a", "GET /b"], max_failure_ratio=0)
    assert problems == ["GET /b: never requested"]
    failed = check_run([route("GET /a", requests=500, failures=1)], THRESHOLDS, max_failure_ratio=0)
    assert failed == ["failure ratio 0.20% (1 of 500) is above 0.00%"]
    assert check_run([], THRESHOLDS) == ["no requests were made"]


def exposition(counts: dict[str, list[int]], sums: dict[str, int] | None = None) -> str:
    """A multiprocess-style scrape: cumulative buckets per route (and the statements they ran)."""
    bounds = ["0.0", "1.0", "2.0", "3.0", "4.0", "5.0", "6.0", "8.0", "+Inf"]
    lines = [
        "# HELP http_request_db_queries SQL statements run by one HTTP request.",
        "# TYPE http_request_db_queries histogram",
    ]
    for name, values in counts.items():
        for bound, value in zip(bounds, values, strict=True):
            lines.append(f'http_request_db_queries_bucket{{le="{bound}",route="{name}"}} {value}')
        lines.append(f'http_request_db_queries_count{{route="{name}"}} {values[-1]}')
        lines.append(f'http_request_db_queries_sum{{route="{name}"}} {(sums or {}).get(name, 0)}')
    return "\n".join(lines) + "\n"


def test_statement_budgets_from_the_histogram() -> None:
    budgets = {"GET /t": 4, "POST /t": 5, "GET /u": 1, "GET /v": 7}
    assert route_budgets(budgets) == {"/t": 5, "/u": 1, "/v": 7}
    before = parse_statements(
        exposition({"/t": [0, 0, 0, 0, 10, 10, 10, 10, 10], "/u": [0, 5, 5, 5, 5, 5, 5, 5, 5]}, {"/t": 40, "/u": 5})
    )
    assert before["/t"].buckets[math.inf] == before["/t"].requests == 10
    after = parse_statements(
        exposition(
            {
                "/t": [0, 0, 0, 0, 30, 40, 43, 43, 43],  # 3 requests of this run ran 6 statements: over 5
                "/u": [0, 25, 25, 25, 25, 25, 25, 25, 25],
                "/v": [0, 0, 0, 0, 0, 0, 0, 9, 9],  # 7 cannot be told from 8: checked against 8
            },
            {"/t": 40 + 20 * 4 + 10 * 5 + 3 * 6, "/u": 25, "/v": 9 * 7},
        )
    )
    assert check_statements(before, after, budgets) == ["/t: 3 of 33 requests ran more than 5 SQL statements"]
    assert check_statements(after, after, budgets) == []
    # The mean per request of the run's requests: 33 requests of /t ran 148 statements.
    assert between(before, after, "/t").per_request == pytest.approx(148 / 33)
    assert between(before, after, "/u").per_request == 1.0
    assert between(after, after, "/u").per_request is None
    assert between(before, after, "/nowhere").requests == 0


def test_metrics_targets() -> None:
    assert metrics_targets("http://127.0.0.1:9100/metrics") == ["http://127.0.0.1:9100/metrics"]
    assert metrics_targets("http://localhost:9100") in (
        ["http://127.0.0.1:9100/metrics"],
        ["http://[::1]:9100/metrics", "http://127.0.0.1:9100/metrics"],
        ["http://127.0.0.1:9100/metrics", "http://[::1]:9100/metrics"],
    )
    for bad in ("ftp://x/metrics", "not a url", "http:///metrics"):
        with pytest.raises(ConfigError, match="must look like"):
            metrics_targets(bad)
    with pytest.raises(ConfigError, match="does not resolve"):
        metrics_targets("http://no-such-host.invalid:9100/metrics")


@pytest.mark.parametrize(
    ("can_read_mail", "required"),
    [
        (True, ["GET /api/v1/teams", "POST /api/v1/invitations/accept"]),
        (False, ["GET /api/v1/teams"]),  # staging: no mailbox, so no token to accept with
    ],
)
def test_a_smoke_run_requires_every_route_it_can_reach(can_read_mail: bool, required: list[str]) -> None:
    budgets = ["GET /api/v1/teams", "POST /api/v1/invitations/accept"]
    assert required_routes(budgets, can_read_mail=can_read_mail) == required
