"""A realistic data set written straight into a migrated database, for the benchmark and the load tests.

Users are numbered: user `u` belongs to team `u // members_per_team` (owner when first, else member) and to the
next team as a member, so everyone sees two teams. Each team has `projects_per_team` projects of
`tasks_per_project` tasks, assigned round-robin to the team's members (every fifth task unassigned). Every user
has the same password, hashed once. Rows are written with COPY: 20,000 tasks take about a second.
"""

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from app.core.security import hash_password
from harness.postgres import libpq_url

SEED_PASSWORD = "seeded-user-password"
STATUSES = ("todo", "in_progress", "done")
PRIORITIES = ("low", "medium", "high", "urgent")
# Newest first is the lists' order: give every row a distinct time in the past, oldest first.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DataSize:
    """How much to seed."""

    teams: int = 50
    members_per_team: int = 5
    projects_per_team: int = 10
    tasks_per_project: int = 40

    def __post_init__(self) -> None:
        for name in ("teams", "members_per_team", "projects_per_team", "tasks_per_project"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1 or value > 1_000_000:
                raise ValueError(f"{name} must be an integer from 1 to 1000000, not {value!r}")
        if self.teams < 2:
            raise ValueError("teams must be at least 2 (everyone belongs to two teams)")

    @property
    def users(self) -> int:
        return self.teams * self.members_per_team

    @property
    def projects(self) -> int:
        return self.teams * self.projects_per_team

    @property
    def tasks(self) -> int:
        return self.projects * self.tasks_per_project


@dataclass
class Dataset:
    """What was seeded: ids to drive requests with."""

    size: DataSize
    password: str
    user_emails: list[str] = field(default_factory=list)
    user_ids: list[uuid.UUID] = field(default_factory=list)
    team_ids: list[uuid.UUID] = field(default_factory=list)
    project_ids: list[uuid.UUID] = field(default_factory=list)  # team t's projects are [t * per_team, ...)
    superuser_email: str = ""


def user_email(index: int) -> str:
    """The email of seeded user `index`."""
    return f"user{index:05d}@seed.example.com"


def _clock() -> Iterator[datetime]:
    moment = EPOCH
    while True:
        moment += timedelta(milliseconds=10)
        yield moment


def _copy(conn: psycopg.Connection[Any], table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    with conn.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(database_url: str, size: DataSize, password: str = SEED_PASSWORD) -> Dataset:
    """Write the data set into an empty, migrated database; returns its ids."""
    hashed = asyncio.run(hash_password(password))
    clock = _clock()
    data = Dataset(size=size, password=password, superuser_email="admin@seed.example.com")
    users: list[tuple[object, ...]] = [
        (uuid.uuid4(), data.superuser_email, "Seed Admin", hashed, True, True, next(clock)),
    ]
    for index in range(size.users):
        user_id = uuid.uuid4()
        data.user_ids.append(user_id)
        data.user_emails.append(user_email(index))
        users.append((user_id, user_email(index), f"Seed User {index}", hashed, True, False, next(clock)))
    teams = [(uuid.uuid4(), f"Team {t:03d}", next(clock)) for t in range(size.teams)]
    data.team_ids = [team[0] for team in teams]
    members: list[list[uuid.UUID]] = [[] for _ in range(size.teams)]
    memberships: list[tuple[object, ...]] = []
    for index, user_id in enumerate(data.user_ids):
        home = index // size.members_per_team
        role = "owner" if index % size.members_per_team == 0 else "member"
        for team, team_role in ((home, role), ((home + 1) % size.teams, "member")):
            members[team].append(user_id)
            memberships.append((uuid.uuid4(), data.team_ids[team], user_id, team_role, next(clock)))
    projects: list[tuple[object, ...]] = []
    tasks: list[tuple[object, ...]] = []
    for team in range(size.teams):
        team_members = members[team]
        for number in range(size.projects_per_team):
            project_id, created = uuid.uuid4(), next(clock)
            data.project_ids.append(project_id)
            owner = team_members[number % len(team_members)]
            projects.append((project_id, f"Project {team:03d}-{number:03d}", None, data.team_ids[team], owner, created))
            for n in range(size.tasks_per_project):
                assignee = None if n % 5 == 4 else team_members[n % len(team_members)]
                tasks.append(
                    (
                        uuid.uuid4(),
                        f"Task {n} of project {team:03d}-{number:03d}",
                        "Seeded task with a short description." if n % 2 else None,
                        STATUSES[n % len(STATUSES)],
                        PRIORITIES[n % len(PRIORITIES)],
                        None,
                        project_id,
                        assignee,
                        team_members[(n + 1) % len(team_members)],
                        next(clock),
                    )
                )
    with psycopg.connect(libpq_url(database_url)) as conn:
        _copy(
            conn,
            "users",
            ("id", "email", "full_name", "hashed_password", "is_active", "is_superuser", "created_at"),
            users,
        )
        _copy(conn, "teams", ("id", "name", "created_at"), teams)
        _copy(conn, "memberships", ("id", "team_id", "user_id", "role", "joined_at"), memberships)
        _copy(
            conn,
            "projects",
            ("id", "name", "description", "team_id", "created_by_id", "created_at", "updated_at", "version"),
            [(*row, row[-1], 1) for row in projects],
        )
        _copy(
            conn,
            "tasks",
            (
                "id",
                "title",
                "description",
                "status",
                "priority",
                "due_date",
                "project_id",
                "assignee_id",
                "created_by_id",
                "created_at",
                "updated_at",
                "version",
            ),
            [(*row, row[-1], 1) for row in tasks],
        )
        conn.execute("ANALYZE")
    return data
