"""Optimistic concurrency in the services: a change based on a stale version is refused, without HTTP."""

import pytest

from app.api.conditional import expected_versions
from app.core.db import Database
from app.core.errors import BadRequest, PermissionDenied, StaleVersion
from app.core.security import LocalToken
from app.models.projects import Project, ProjectCreate, ProjectUpdate
from app.models.tasks import TaskCreate, TaskUpdate
from app.models.teams import Membership, TeamCreate, TeamRole
from app.models.users import User
from app.services import projects as projects_service
from app.services import tasks as tasks_service
from app.services import teams as teams_service
from app.services import users as users_service
from app.services.concurrency import check_version


def test_check_version() -> None:
    check_version(None, 3)  # no condition: any version
    check_version(frozenset({2, 3}), 3)
    with pytest.raises(StaleVersion, match="current version 3"):
        check_version(frozenset({2}), 3)
    with pytest.raises(StaleVersion):
        check_version(frozenset(), 3)  # a condition naming no version of ours


@pytest.mark.parametrize("header", ["", "\x00", "abc", "null", '"2', "1; 2", '"1",', ',"1"', '"a" "b"', '"1",,"2"'])
def test_if_match_that_is_no_entity_tag_is_400(header: str) -> None:
    with pytest.raises(BadRequest, match='quoted ETag such as "2"'):
        expected_versions(header)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("*", None),
        ('"1", *', None),
        ('"7"', frozenset({7})),
        (' "1" , "2"', frozenset({1, 2})),
        ('W/"1"', frozenset()),  # weak tags never match (RFC 9110 strong comparison)
        ('"01"', frozenset()),  # not a tag this service issues
        ("1", frozenset({1})),  # the bare version, as the body's "version" shows it
        ('"-1"', frozenset()),
        ('"a,b", "3"', frozenset({3})),  # a comma inside a quoted tag is part of the tag (RFC 9110 etagc)
        ('"1,2"', frozenset()),
        ('*\t,\t"x,*"', None),
        ("9" * 5000, frozenset()),
        ('"' + "9" * 5000 + '"', frozenset()),  # huge numbers name no version (and never reach int())
    ],
)
def test_if_match_becomes_expected_versions(header: str | None, expected: frozenset[int] | None) -> None:
    assert expected_versions(header) == expected


async def make_user(database: Database, email: str) -> User:
    async with database.session() as session:
        user = User(email=email)
        session.add(user)
    return user


async def make_project(database: Database, owner: User) -> Project:
    async with database.session() as session:
        membership = await teams_service.create_team(session, owner, TeamCreate(name="Platform"))
        return await projects_service.create_project(session, membership.team_id, owner, ProjectCreate(name="Roadmap"))


async def test_project_changes_check_the_version(database: Database) -> None:
    owner = await make_user(database, "owner@example.com")
    project = await make_project(database, owner)
    async with database.session() as session:
        changed = await projects_service.update_project(
            session, project.id, owner, ProjectUpdate(name="Renamed"), frozenset({1})
        )
    assert (changed.name, changed.version) == ("Renamed", 2)
    with pytest.raises(StaleVersion):
        async with database.session() as session:
            await projects_service.update_project(
                session, project.id, owner, ProjectUpdate(name="Lost"), frozenset({1})
            )
    with pytest.raises(StaleVersion):
        async with database.session() as session:
            await projects_service.delete_project(session, project.id, owner, frozenset({1}))
    async with database.session() as session:
        await projects_service.delete_project(session, project.id, owner, None)


async def test_an_unchanged_project_keeps_its_version(database: Database) -> None:
    owner = await make_user(database, "owner@example.com")
    project = await make_project(database, owner)
    async with database.session() as session:
        same = await projects_service.update_project(session, project.id, owner, ProjectUpdate(), None)
    assert same.version == 1


async def test_task_changes_check_the_version_and_roles(database: Database) -> None:
    owner = await make_user(database, "owner@example.com")
    member = await make_user(database, "member@example.com")
    project = await make_project(database, owner)
    async with database.session() as session:
        session.add(Membership(team_id=project.team_id, user_id=member.id, role=TeamRole.member))
    async with database.session() as session:
        # As in a request, the caller is loaded in the session the service works in.
        caller = await users_service.get_active_user(session, LocalToken(subject=str(owner.id), version=0))
        task, _ = await tasks_service.create_task(session, project.id, caller, TaskCreate(title="Write"))
    async with database.session() as session:
        changed, _ = await tasks_service.update_task(session, task.id, member, TaskUpdate(title="Wrote"), None)
    assert changed.version == 2
    with pytest.raises(StaleVersion):
        async with database.session() as session:
            await tasks_service.update_task(session, task.id, owner, TaskUpdate(title="Lost"), frozenset({1}))
    with pytest.raises(PermissionDenied, match="creator or team owners and admins"):
        async with database.session() as session:
            await tasks_service.delete_task(session, task.id, member, frozenset({2}))
    async with database.session() as session:
        await tasks_service.delete_task(session, task.id, owner, frozenset({2}))
    with pytest.raises(PermissionDenied, match="Only team owners and admins can change"):
        async with database.session() as session:
            await projects_service.update_project(session, project.id, member, ProjectUpdate(name="Mine"), None)
