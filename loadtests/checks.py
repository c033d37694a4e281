"""What makes a load-test run pass: statement budgets and run thresholds, read from the files beside this one.

Plain functions over plain numbers, so the same rules apply to a local run, a staging Job and the tests.
"""

import math
import socket
import tomllib
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
BUDGETS_FILE = HERE / "budgets.toml"
THRESHOLDS_FILE = HERE / "thresholds.toml"
STATEMENTS_METRIC = "http_request_db_queries"


class ConfigError(Exception):
    """A budgets or thresholds file that cannot be used."""


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc


def _number(path: Path, where: str, value: object, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
        raise ConfigError(f"{path}: {where} must be a {'whole ' if integer else ''}number, not {value!r}")
    if value < 0 or not math.isfinite(value):
        raise ConfigError(f"{path}: {where} must be zero or more, not {value!r}")
    return float(value)


def load_budgets(path: Path = BUDGETS_FILE) -> dict[str, int]:
    """Request name ("GET /api/v1/...") -> most SQL statements one request may run."""
    table = _read_toml(path).get("statements")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{path}: needs a [statements] table of request name = budget")
    budgets = {}
    for name, value in table.items():
        if len(name.split(" ")) != 2 or not name.split(" ")[1].startswith("/"):
            raise ConfigError(f"{path}: {name!r} is not '<METHOD> <route template>'")
        budgets[name] = int(_number(path, name, value, integer=True))
    return budgets


@dataclass(frozen=True)
class Latency:
    p95: float
    p99: float


@dataclass(frozen=True)
class Thresholds:
    max_failure_ratio: float
    default_latency: Latency
    route_latency: dict[str, Latency] = field(default_factory=dict)

    def latency(self, name: str) -> Latency:
        return self.route_latency.get(name, self.default_latency)


def _latency(path: Path, where: str, value: object) -> Latency:
    if not isinstance(value, dict) or set(value) != {"p95", "p99"}:
        raise ConfigError(f"{path}: {where} needs exactly p95 and p99 (milliseconds)")
    return Latency(p95=_number(path, f"{where}.p95", value["p95"]), p99=_number(path, f"{where}.p99", value["p99"]))


def load_thresholds(path: Path = THRESHOLDS_FILE) -> Thresholds:
    """The run thresholds: failure ratio and p95/p99 latency per route."""
    data = _read_toml(path)
    run, latency = data.get("run"), data.get("latency")
    if not isinstance(run, dict) or "max_failure_ratio" not in run:
        raise ConfigError(f"{path}: needs [run] with max_failure_ratio")
    ratio = _number(path, "run.max_failure_ratio", run["max_failure_ratio"])
    if ratio > 1:
        raise ConfigError(f"{path}: run.max_failure_ratio is a ratio from 0 to 1, not {ratio}")
    if not isinstance(latency, dict) or "default" not in latency:
        raise ConfigError(f"{path}: needs [latency.default] with p95 and p99")
    routes = latency.get("routes", {})
    if not isinstance(routes, dict):
        raise ConfigError(f"{path}: [latency.routes] must be a table")
    return Thresholds(
        max_failure_ratio=ratio,
        default_latency=_latency(path, "latency.default", latency["default"]),
        route_latency={name: _latency(path, f"latency.routes.{name}", value) for name, value in routes.items()},
    )


def over_budget(name: str, header: str | None, budgets: Mapping[str, int]) -> str | None:
    """Why one response broke its statement budget (None when it did not, or no header/budget applies)."""
    budget = budgets.get(name)
    if header is None or budget is None:
        return None
    try:
        count = int(header)
    except ValueError:
        return f"X-Query-Count {header!r} is not a number"
    return f"{count} SQL statements, budget {budget}" if count > budget else None


@dataclass(frozen=True)
class RouteStats:
    """One request name's numbers at the end of a run."""

    name: str
    requests: int
    failures: int
    p95_ms: float
    p99_ms: float


def check_run(
    routes: Iterable[RouteStats],
    thresholds: Thresholds,
    *,
    latency: bool = True,
    required: Iterable[str] = (),
    max_failure_ratio: float | None = None,
) -> list[str]:
    """What broke: the failure ratio, a route's p95/p99, a required route that never ran."""
    stats = list(routes)
    problems = []
    total = sum(route.requests for route in stats)
    failures = sum(route.failures for route in stats)
    allowed = thresholds.max_failure_ratio if max_failure_ratio is None else max_failure_ratio
    if total == 0:
        problems.append("no requests were made")
    elif failures / total > allowed:
        problems.append(f"failure ratio {failures / total:.2%} ({failures} of {total}) is above {allowed:.2%}")
    if latency:
        for route in stats:
            limit = thresholds.latency(route.name)
            if route.requests and route.p95_ms > limit.p95:
                problems.append(f"{route.name}: p95 {route.p95_ms:.0f} ms is above {limit.p95:.0f} ms")
            if route.requests and route.p99_ms > limit.p99:
                problems.append(f"{route.name}: p99 {route.p99_ms:.0f} ms is above {limit.p99:.0f} ms")
    ran = {route.name for route in stats if route.requests}
    problems += [f"{name}: never requested" for name in required if name not in ran]
    return problems


# Routes only a run that reads the service's email can take (the token comes by email): a staging run has no mailbox.
NEEDS_MAIL = frozenset({"POST /api/v1/invitations/accept"})


def required_routes(budgets: Iterable[str], *, can_read_mail: bool) -> list[str]:
    """The routes a smoke run must have requested: every budgeted one it can reach."""
    return [route for route in budgets if can_read_mail or route not in NEEDS_MAIL]


# Statement budgets from the service's histogram, where the X-Query-Count header is off (staging).


@dataclass
class RouteStatements:
    """One route's statements-per-request histogram: cumulative request counts by upper bound, and the statements
    all its requests ran."""

    buckets: dict[float, float] = field(default_factory=dict)
    statements: float = 0.0

    @property
    def requests(self) -> float:
        return self.buckets.get(math.inf, 0.0)

    @property
    def per_request(self) -> float | None:
        """The mean statements of a request (None: no request)."""
        return self.statements / self.requests if self.requests else None

    def since(self, earlier: "RouteStatements") -> "RouteStatements":
        """The requests counted after `earlier` (the same route, scraped before)."""
        buckets = {bound: count - earlier.buckets.get(bound, 0.0) for bound, count in self.buckets.items()}
        return RouteStatements(buckets, self.statements - earlier.statements)

    def add(self, other: "RouteStatements") -> None:
        for bound, count in other.buckets.items():
            self.buckets[bound] = self.buckets.get(bound, 0.0) + count
        self.statements += other.statements


Histogram = dict[str, RouteStatements]  # by route


def metrics_targets(url: str) -> list[str]:
    """Every address a metrics URL's host resolves to: a headless Service names each pod."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"metrics URL {url!r} must look like http://host:port/metrics")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise ConfigError(f"metrics host {parts.hostname!r} does not resolve: {exc}") from exc
    addresses = sorted({str(info[4][0]) for info in infos})
    hosts = [f"[{address}]" if ":" in address else address for address in addresses]
    return [urlunsplit((parts.scheme, f"{host}:{port}", parts.path or "/metrics", "", "")) for host in hosts]


def parse_statements(text: str) -> Histogram:
    """The statements-per-request histogram of one scrape, by route."""
    histogram: Histogram = {}
    for family in text_string_to_metric_families(text):
        if family.name != STATEMENTS_METRIC:
            continue
        for sample in family.samples:
            route = histogram.setdefault(sample.labels.get("route", ""), RouteStatements())
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                route.buckets[bound] = route.buckets.get(bound, 0.0) + sample.value
            elif sample.name.endswith("_sum"):
                route.statements += sample.value
    return histogram


def scrape_statements(url: str, timeout: float = 10) -> Histogram:
    """The histogram summed over every pod behind a metrics URL."""
    total: Histogram = {}
    for target in metrics_targets(url):
        try:
            with urllib.request.urlopen(target, timeout=timeout) as response:  # noqa: S310  (http(s) checked above)
                text = response.read().decode()
        except OSError as exc:
            raise ConfigError(f"cannot scrape {target}: {exc}") from exc
        for route, statements in parse_statements(text).items():
            total.setdefault(route, RouteStatements()).add(statements)
    return total


def between(before: Histogram, after: Histogram, route: str) -> RouteStatements:
    """A route's requests after the `before` scrape up to the `after` one."""
    return after.get(route, RouteStatements()).since(before.get(route, RouteStatements()))


def route_budgets(budgets: Mapping[str, int]) -> dict[str, int]:
    """Budgets per route template: the histogram has no method label, so the larger budget of its methods."""
    per_route: dict[str, int] = {}
    for name, budget in budgets.items():
        route = name.split(" ", 1)[1]
        per_route[route] = max(budget, per_route.get(route, 0))
    return per_route


def check_statements(before: Histogram, after: Histogram, budgets: Mapping[str, int]) -> list[str]:
    """Requests of the run (after - before) above their route's budget.

    A budget between two bucket bounds is checked against the next bound up (the histogram cannot tell 7 from 8).
    """
    problems = []
    for route, budget in sorted(route_budgets(budgets).items()):
        run = between(before, after, route)
        if not run.buckets:
            continue
        total = run.requests
        bound = min((b for b in run.buckets if b >= budget), default=math.inf)
        within = run.buckets.get(bound, 0.0)
        if total - within > 0:
            problems.append(
                f"{route}: {total - within:.0f} of {total:.0f} requests ran more than {budget} SQL statements"
            )
    return problems
