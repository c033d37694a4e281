"""Load test: a team's working day, weighted like real traffic, within per-route SQL statement budgets.

    uv run poe loadtest                                      # end to end on this machine (loadtests/run.py)
    locust -f loadtests/locustfile.py --headless -u 50 -r 5 -t 10m --host http://bosun \
        --metrics-url http://bosun-metrics-pods:9100/metrics  # against a running service (the staging Job)

Who the simulated users are:
- Member (most of them): logs in once as a seeded account (`--seeded-users N`, local runs) or signs up with a team,
  a teammate and a project of its own (staging). Reads its tasks, pages through project task lists with filters,
  opens tasks and projects, creates tasks, updates them with If-Match, reassigns and deletes them.
- Newcomer: always signs up; also manages projects, invitations and team members, edits its profile and changes its
  password.
- Admin (one, only with `--admin-email`): pages through every user, adds one to its team directly and removes them.
A teammate joins by invitation: with `--mail-dir` (the Maildir the service's SMTP server delivers to; local runs
make one) the token is read from the email and accepted; without it, invitations are sent, listed and revoked only.
Users write only tasks and projects they created themselves, so no two users ever race for the same ETag.

Every response's X-Query-Count is checked against `budgets.toml`; where the service does not send that header,
`--metrics-url` (a headless Service naming every pod) makes the run compare the service's own
`http_request_db_queries` histogram before and after instead. When locust stops, `thresholds.toml` decides: the run
exits 1 and logs each broken threshold, or 0. `--smoke` runs every journey of every user class once, in order,
without waiting, then stops: a deterministic check that every route answers within its budget.
"""

import itertools
import json
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import gevent  # type: ignore[import-untyped]
from locust import FastHttpUser, events, task
from locust.argument_parser import LocustArgumentParser
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.exception import StopUser
from locust.stats import CSV_STATS_INTERVAL_SEC

from loadtests import checks, mail

SEEDED_EMAIL = "user{:05d}@seed.example.com"  # harness/seed.py writes these accounts
SIGNUP_PASSWORD = "load-test-password-1"
STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high", "urgent")
PAGE = 20

logger = logging.getLogger("loadtest")


@events.init_command_line_parser.add_listener
def _options(parser: LocustArgumentParser) -> None:
    parser.add_argument(
        "--seeded-users",
        type=int,
        default=0,
        env_var="BOSUN_LOADTEST_SEEDED_USERS",
        help="log Members in as the first N seeded accounts (harness/seed.py); 0: everyone signs up",
    )
    parser.add_argument("--seeded-password", default="", env_var="BOSUN_LOADTEST_SEEDED_PASSWORD", is_secret=True)
    parser.add_argument("--admin-email", default="", env_var="BOSUN_LOADTEST_ADMIN_EMAIL", help="a superuser's email")
    parser.add_argument("--admin-password", default="", env_var="BOSUN_LOADTEST_ADMIN_PASSWORD", is_secret=True)
    parser.add_argument(
        "--mail-dir",
        default="",
        env_var="BOSUN_LOADTEST_MAIL_DIR",
        help="the Maildir the service's emails reach: invitations are then accepted with their token",
    )
    parser.add_argument("--budgets", default=str(checks.BUDGETS_FILE), env_var="BOSUN_LOADTEST_BUDGETS")
    parser.add_argument("--thresholds", default=str(checks.THRESHOLDS_FILE), env_var="BOSUN_LOADTEST_THRESHOLDS")
    parser.add_argument(
        "--metrics-url",
        default="",
        env_var="BOSUN_LOADTEST_METRICS_URL",
        help="the service's /metrics (every address its host resolves to), when it sends no X-Query-Count",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        default=False,
        env_var="BOSUN_LOADTEST_SMOKE",
        help="every journey once per user class, then stop; no latency thresholds",
    )


@dataclass
class Run:
    """What this locust process knows about its run."""

    budgets: dict[str, int]
    thresholds: checks.Thresholds
    seeded_users: int = 0
    seeded_password: str = ""
    admin_email: str = ""
    admin_password: str = ""
    metrics_url: str = ""
    mail_dir: str = ""
    smoke: bool = False
    read_mail: set[str] = field(default_factory=set)  # Maildir keys whose token was used
    accounts: "itertools.count[int]" = field(default_factory=itertools.count)
    header_seen: bool = False
    most_statements: dict[str, int] = field(default_factory=dict)
    metrics_before: checks.Histogram | None = None
    problems: list[str] = field(default_factory=list)
    smoke_finished: int = 0


RUN: Run | None = None


def run_state() -> Run:
    if RUN is None:
        raise RuntimeError("the locustfile's init listener has not run")
    return RUN


class Journeys(FastHttpUser):
    """The requests every kind of user makes, and the bookkeeping that keeps users out of each other's way."""

    abstract = True

    def wait_time(self) -> float:
        """Between journeys: like a person (a smoke run makes its journeys in on_start and never waits)."""
        return self.rng.uniform(0.5, 2.0)

    def on_start(self) -> None:
        run = run_state()
        self.rng = random.Random(42) if run.smoke else random.Random()
        self.auth: dict[str, str] = {}
        self.email = ""
        self.password = ""
        self.me = ""
        self.team = ""
        self.teammates: list[str] = []
        self.mate_email = ""
        self.mate_auth: dict[str, str] = {}
        self.projects: list[str] = []
        self.own_tasks: list[str] = []  # created here and never handed over: only this user writes them
        self.readable_tasks: list[str] = []  # assigned to this user: nobody deletes them
        self.sign_in()
        if run.smoke:
            self.every_journey_once()

    def every_journey_once(self) -> None:
        """Smoke mode: each of this user's journeys once, in the order they are written, then stop."""
        run = run_state()
        try:
            journeys: list[Callable[[Journeys], None]] = type(self).tasks  # type: ignore[assignment]  # no TaskSets
            for journey in dict.fromkeys(journeys):  # a weighted journey stands several times in `tasks`
                journey(self)
        except StopUser:
            raise
        except Exception as exc:  # a scenario bug must fail the run, not loop
            run.problems.append(f"{type(self).__name__}: {type(exc).__name__}: {exc}")
        finally:
            run.smoke_finished += 1
            if run.smoke_finished >= len(self.environment.user_classes) and self.environment.runner is not None:
                # Locust writes its CSV files every CSV_STATS_INTERVAL_SEC and not again at exit: quit after one
                # more write.
                gevent.spawn_later(CSV_STATS_INTERVAL_SEC + 0.5, self.environment.runner.quit)
        raise StopUser

    def sign_in(self) -> None:
        raise NotImplementedError

    # One request.

    def call(
        self,
        method: str,
        route: str,
        *,
        query: Mapping[str, object] | None = None,
        ok: tuple[int, ...] = (200,),
        body: object = None,
        form: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **path: str,
    ) -> Any:
        """Send one request to `route` (its template, `/api/v1/tasks/{task_id}`) with `path`'s values in it and the
        `query` values that are not None, named `METHOD route` as the budgets name it; a wrong status or a broken
        budget fails it (None back)."""
        run = run_state()
        name = f"{method} {route}"
        url = route.format(**path)
        parameters = {key: value for key, value in (query or {}).items() if value is not None}
        if parameters:
            url += f"?{urlencode(parameters)}"
        sent = {**self.auth, **(headers or {})}
        data = None
        if body is not None:
            data, sent["Content-Type"] = json.dumps(body), "application/json"
        elif form is not None:
            data, sent["Content-Type"] = urlencode(form), "application/x-www-form-urlencoded"
        response: ResponseContextManager
        with self.client.request(method, url, name=name, data=data, headers=sent, catch_response=True) as response:
            if response.status_code not in ok:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return None
            value = response.headers.get("X-Query-Count") if response.headers else None
            header = value if isinstance(value, str) else None
            if header is not None and header.isdigit():
                run.header_seen = True
                run.most_statements[name] = max(run.most_statements.get(name, 0), int(header))
            broken = checks.over_budget(name, header, run.budgets)
            if broken is not None:
                response.failure(broken)
                return None
            response.success()
            return response

    def json_of(self, method: str, route: str, **kwargs: Any) -> dict[str, Any] | None:
        response = self.call(method, route, **kwargs)
        if response is None:
            return None
        body: dict[str, Any] = response.json()
        return body

    # Signing in and the user's own corner of the data.

    def log_in(self, email: str, password: str) -> bool:
        self.auth = {}
        token = self.json_of("POST", "/api/v1/auth/token", form={"username": email, "password": password})
        if token is None:
            return False
        self.email, self.password = email, password
        self.auth = {"Authorization": f"Bearer {token['access_token']}"}
        return True

    def sign_up(self, email: str, password: str = SIGNUP_PASSWORD) -> str | None:
        user = self.json_of(
            "POST",
            "/api/v1/auth/signup",
            ok=(201,),
            body={"email": email, "password": password, "full_name": "Load Tester"},
        )
        return None if user is None else str(user["id"])

    def write_task(self, method: str, task_id: str, **kwargs: Any) -> None:
        """Change or delete a task at the version just read (its ETag as If-Match)."""
        read = self.call("GET", "/api/v1/tasks/{task_id}", task_id=task_id)
        if read is not None:
            headers = {"If-Match": str(read.headers["ETag"])}
            self.call(method, "/api/v1/tasks/{task_id}", task_id=task_id, headers=headers, **kwargs)


class TeamWork(Journeys):
    """A team member's journeys, with how often each happens relative to the others."""

    abstract = True

    def sign_up_with_workspace(self) -> None:
        """A fresh account with a team, a teammate and a project of its own."""
        email = f"load-{uuid.uuid4().hex[:16]}@example.com"
        if self.sign_up(email) is None or not self.log_in(email, SIGNUP_PASSWORD):
            raise StopUser
        me = self.json_of("GET", "/api/v1/users/me")
        team = self.json_of("POST", "/api/v1/teams", ok=(201,), body={"name": "Load team"})
        if me is None or team is None:
            raise StopUser
        self.me, self.team = str(me["id"]), str(team["id"])
        self.mate_email = f"mate-{uuid.uuid4().hex[:16]}@example.com"
        mate = self.sign_up(self.mate_email)
        if mate is not None and self.join_by_invitation(self.mate_email):
            self.teammates.append(mate)
        project = self.json_of(
            "POST",
            "/api/v1/teams/{team_id}/projects",
            team_id=self.team,
            ok=(201,),
            body={"name": "Load project", "description": "Made by the load test."},
        )
        if project is None:
            raise StopUser
        self.projects.append(str(project["id"]))
        for _ in range(3):
            self.create_task()

    def log_in_mate(self) -> bool:
        """The teammate's own token, for accepting invitations as them."""
        token = self.json_of(
            "POST",
            "/api/v1/auth/token",
            form={"username": self.mate_email, "password": SIGNUP_PASSWORD},
        )
        if token is not None:
            self.mate_auth = {"Authorization": f"Bearer {token['access_token']}"}
        return token is not None

    def invite(self, email: str) -> dict[str, Any] | None:
        return self.json_of(
            "POST",
            "/api/v1/teams/{team_id}/invitations",
            team_id=self.team,
            ok=(202,),
            body={"email": email, "role": "member"},
        )

    def join_by_invitation(self, email: str) -> bool:
        """Invite the teammate and, when their email can be read, accept as them: whether they joined."""
        run = run_state()
        if self.invite(email) is None or not run.mail_dir:
            return False
        token = mail.wait_for_token(Path(run.mail_dir), email, run.read_mail, timeout=30, sleep=gevent.sleep)
        if token is None:
            run.problems.append(f"no invitation email reached {email} within 30 s")
            return False
        if not self.mate_auth and not self.log_in_mate():
            return False
        joined = self.call(
            "POST",
            "/api/v1/invitations/accept",
            body={"token": token},
            headers=self.mate_auth,
        )
        return joined is not None

    def join_seeded_workspace(self, email: str, password: str) -> None:
        """A seeded account: its teams, teammates and projects already exist."""
        if not self.log_in(email, password):
            raise StopUser
        me = self.json_of("GET", "/api/v1/users/me")
        teams = self.json_of("GET", "/api/v1/teams", query={"limit": 50})
        if me is None or not teams or not teams["items"]:
            raise StopUser
        self.me = str(me["id"])
        self.team = str(self.rng.choice(teams["items"])["id"])
        detail = self.json_of("GET", "/api/v1/teams/{team_id}", team_id=self.team)
        if detail is not None:
            self.teammates = [str(m["user"]["id"]) for m in detail["members"] if str(m["user"]["id"]) != self.me]
        projects = self.json_of("GET", "/api/v1/projects", query={"team_id": self.team, "limit": 50})
        if not projects or not projects["items"]:
            raise StopUser
        self.projects = [str(p["id"]) for p in projects["items"]]
        for _ in range(2):
            self.create_task()

    @task(6)
    def my_tasks(self) -> None:
        status = self.rng.choice([None, "todo", "in_progress"])
        page = self.json_of("GET", "/api/v1/users/me/tasks", query={"limit": PAGE, "status": status})
        if page is not None and page["items"]:
            self.readable_tasks = [str(item["id"]) for item in page["items"]]

    @task(3)
    def browse_projects(self) -> None:
        team = self.team if self.rng.random() < 0.5 else None
        self.call("GET", "/api/v1/projects", query={"limit": PAGE, "team_id": team})

    @task(8)
    def page_through_tasks(self) -> None:
        project = self.rng.choice(self.projects)
        where = self.rng.choice([{}, {"status": "todo"}, {"priority": "high"}, {"assignee_id": self.me}])
        offset = 0
        for _ in range(3):
            page = self.json_of(
                "GET",
                "/api/v1/projects/{project_id}/tasks",
                project_id=project,
                query={"limit": PAGE, "offset": offset, **where},
            )
            offset += PAGE
            if page is None or offset >= page["total"]:
                return

    @task(4)
    def open_task(self) -> None:
        choices = self.readable_tasks + self.own_tasks
        if choices:
            self.call("GET", "/api/v1/tasks/{task_id}", task_id=self.rng.choice(choices))

    @task(2)
    def open_project(self) -> None:
        project = self.rng.choice(self.projects)
        self.call("GET", "/api/v1/projects/{project_id}", project_id=project)

    @task(2)
    def my_teams(self) -> None:
        self.call("GET", "/api/v1/teams")
        self.call("GET", "/api/v1/teams/{team_id}", team_id=self.team)

    @task(1)
    def profile(self) -> None:
        self.call("GET", "/api/v1/users/me")

    @task(3)
    def create_task(self) -> None:
        body: dict[str, object] = {
            "title": f"Load task {uuid.uuid4().hex[:8]}",
            "priority": self.rng.choice(PRIORITIES),
            "assignee_id": self.me if self.rng.random() < 0.7 else None,
        }
        if self.rng.random() < 0.5:
            body["description"] = "Written by the load test to look like a real task description."
        project = self.rng.choice(self.projects)
        created = self.json_of(
            "POST",
            "/api/v1/projects/{project_id}/tasks",
            project_id=project,
            ok=(201,),
            body=body,
        )
        if created is not None:
            self.own_tasks.append(str(created["id"]))

    @task(3)
    def update_task(self) -> None:
        if not self.own_tasks:
            return
        change = {"status": self.rng.choice(STATUSES), "priority": self.rng.choice(PRIORITIES)}
        self.write_task("PATCH", self.rng.choice(self.own_tasks), body=change)

    @task(1)
    def reassign_task(self) -> None:
        if not self.teammates or len(self.own_tasks) < 2:
            return
        task_id = self.own_tasks.pop(0)  # handed over: never written here again
        self.write_task("PATCH", task_id, body={"assignee_id": self.rng.choice(self.teammates)})

    @task(1)
    def delete_task(self) -> None:
        if len(self.own_tasks) < 2:
            return
        self.write_task("DELETE", self.own_tasks.pop(), ok=(204,))


class Member(TeamWork):
    weight = 10

    def sign_in(self) -> None:
        run = run_state()
        index = next(run.accounts)
        if index < run.seeded_users:
            self.join_seeded_workspace(SEEDED_EMAIL.format(index), run.seeded_password)
        else:
            self.sign_up_with_workspace()


class Newcomer(TeamWork):
    weight = 1

    def sign_in(self) -> None:
        self.sign_up_with_workspace()

    @task(1)
    def manage_project(self) -> None:
        created = self.call(
            "POST",
            "/api/v1/teams/{team_id}/projects",
            team_id=self.team,
            ok=(201,),
            body={"name": "Short-lived project"},
        )
        if created is None:
            return
        project = str(created.json()["id"])
        changed = self.call(
            "PATCH",
            "/api/v1/projects/{project_id}",
            project_id=project,
            body={"description": "Renamed by the load test."},
            headers={"If-Match": str(created.headers["ETag"])},
        )
        if changed is not None:
            self.call(
                "DELETE",
                "/api/v1/projects/{project_id}",
                project_id=project,
                ok=(204,),
                headers={"If-Match": str(changed.headers["ETag"])},
            )

    @task(1)
    def manage_members(self) -> None:
        if not self.teammates:
            return
        mate = self.teammates.pop()
        removed = self.call(
            "DELETE",
            "/api/v1/teams/{team_id}/members/{user_id}",
            team_id=self.team,
            user_id=mate,
            ok=(204,),
        )
        if removed is not None and self.join_by_invitation(self.mate_email):
            self.teammates.append(mate)

    @task(1)
    def manage_invitations(self) -> None:
        invited = self.invite(f"guest-{uuid.uuid4().hex[:16]}@example.com")
        page = self.json_of("GET", "/api/v1/teams/{team_id}/invitations", team_id=self.team, query={"limit": PAGE})
        if invited is not None and page is not None:
            self.call(
                "DELETE",
                "/api/v1/teams/{team_id}/invitations/{invitation_id}",
                team_id=self.team,
                invitation_id=invited["id"],
                ok=(204,),
            )

    @task(1)
    def edit_profile(self) -> None:
        self.call("PATCH", "/api/v1/users/me", body={"full_name": "Load Tester Renamed"})

    @task(1)
    def change_password(self) -> None:
        new = f"load-{uuid.uuid4().hex[:20]}"
        changed = self.call(
            "PUT",
            "/api/v1/users/me/password",
            ok=(204,),
            body={"current_password": self.password, "new_password": new},
        )
        if changed is not None and not self.log_in(self.email, new):
            raise StopUser


class Admin(Journeys):
    fixed_count = 1

    def sign_in(self) -> None:
        run = run_state()
        if not self.log_in(run.admin_email, run.admin_password):
            raise StopUser
        team = self.json_of("POST", "/api/v1/teams", ok=(201,), body={"name": "Admin team"})
        if team is None:
            raise StopUser
        self.team = str(team["id"])
        self.known_emails: list[str] = []

    @task(3)
    def list_users(self) -> None:
        offset = self.rng.choice([0, 0, 50, 100])
        page = self.json_of("GET", "/api/v1/users", query={"limit": 50, "offset": offset})
        if page is not None:
            self.known_emails = [str(user["email"]) for user in page["items"] if user["email"] != self.email]

    @task(1)
    def add_member_directly(self) -> None:
        """Only superusers add a registered user to a team without an invitation."""
        if not self.known_emails:
            return
        added = self.json_of(
            "POST",
            "/api/v1/teams/{team_id}/members",
            team_id=self.team,
            ok=(201,),
            body={"email": self.rng.choice(self.known_emails), "role": "member"},
        )
        if added is not None:
            self.call(
                "DELETE",
                "/api/v1/teams/{team_id}/members/{user_id}",
                team_id=self.team,
                user_id=added["user"]["id"],
                ok=(204,),
            )

    @task(1)
    def admin_profile(self) -> None:
        self.call("GET", "/api/v1/users/me")


@events.init.add_listener
def _init(environment: Environment, **_: object) -> None:
    global RUN
    options = environment.parsed_options
    if options is None:  # used as a library without command-line options
        return
    try:
        RUN = Run(
            budgets=checks.load_budgets(Path(options.budgets)),
            thresholds=checks.load_thresholds(Path(options.thresholds)),
            seeded_users=max(0, options.seeded_users),
            seeded_password=options.seeded_password,
            admin_email=options.admin_email,
            admin_password=options.admin_password,
            metrics_url=options.metrics_url,
            mail_dir=options.mail_dir,
            smoke=options.smoke,
        )
        if options.metrics_url:
            checks.metrics_targets(options.metrics_url)  # a URL that cannot work fails now, not at the end
    except checks.ConfigError as exc:
        raise SystemExit(f"loadtest: {exc}") from exc
    if not options.admin_email:
        environment.user_classes[:] = [cls for cls in environment.user_classes if cls is not Admin]
    if options.smoke:
        # One user of each class (weights would spawn Members only), through locust's own per-run user settings.
        for cls in environment.user_classes:
            environment.update_user_class({"user_class_name": cls.__name__, "fixed_count": 1})


@events.test_start.add_listener
def _scrape_before(environment: Environment, **_: object) -> None:
    run = run_state()
    if run.metrics_url:
        try:
            run.metrics_before = checks.scrape_statements(run.metrics_url)
        except checks.ConfigError as exc:
            run.problems.append(str(exc))


def _statement_problems(run: Run) -> list[str]:
    if run.header_seen:
        return []  # every response was checked as it came
    if not run.metrics_url:
        return ["statement budgets unchecked: the service sends no X-Query-Count and no --metrics-url was given"]
    if run.metrics_before is None:
        return []  # the first scrape failed, already reported
    try:
        after = checks.scrape_statements(run.metrics_url)
    except checks.ConfigError as exc:
        return [str(exc)]
    return checks.check_statements(run.metrics_before, after, run.budgets)


@events.quitting.add_listener
def _verdict(environment: Environment, **_: object) -> None:
    """Pass or fail the run by the thresholds, naming everything that broke."""
    if RUN is None or environment.runner is None:
        return
    run = RUN
    routes = [
        checks.RouteStats(
            name=entry.name,
            requests=entry.num_requests,
            failures=entry.num_failures,
            p95_ms=entry.get_response_time_percentile(0.95) or 0.0,
            p99_ms=entry.get_response_time_percentile(0.99) or 0.0,
        )
        for entry in environment.stats.entries.values()
    ]
    problems = list(run.problems)
    problems += checks.check_run(
        routes,
        run.thresholds,
        latency=not run.smoke,
        required=checks.required_routes(run.budgets, can_read_mail=bool(run.mail_dir)) if run.smoke else (),
        max_failure_ratio=0.0 if run.smoke else None,
    )
    problems += _statement_problems(run)
    exceptions = environment.runner.exceptions
    if exceptions:
        first = next(iter(exceptions.values()))
        problems.append(f"{len(exceptions)} kinds of error in the scenario itself, first: {first['msg']}")
    csv_prefix = getattr(environment.parsed_options, "csv_prefix", None)
    if csv_prefix:
        Path(f"{csv_prefix}_statements.json").write_text(json.dumps(run.most_statements, indent=2, sort_keys=True))
    for problem in problems:
        logger.error("load test FAILED: %s", problem)
    if not problems:
        logger.info("load test passed: thresholds held and every statement budget was kept")
    environment.process_exit_code = 1 if problems else 0
