"""Team rules that live in the service, called without HTTP: roles decide who manages, a team keeps an owner."""

import uuid

import pytest

from app.core.db import Database
from app.core.errors import Conflict, NotFound, PermissionDenied
from app.models.teams import MemberCreate, TeamCreate, TeamRole
from app.models.users import User
from app.services import teams as teams_service


async def add_user(database: Database, email: str) -> User:
    async with database.session() as session:
        user = User(email=email)
        session.add(user)
    return user


@pytest.fixture
async def owner(database: Database) -> User:
    return await add_user(database, "owner@example.com")


async def new_team(database: Database, owner: User) -> uuid.UUID:
    async with database.session() as session:
        membership = await teams_service.create_team(session, owner, TeamCreate(name="Platform"))
    return membership.team_id


async def join(database: Database, team_id: uuid.UUID, actor: User, email: str, role: TeamRole) -> User:
    user = await add_user(database, email)
    async with database.session() as session:
        await teams_service.add_member(session, team_id, actor, MemberCreate(email=email, role=role))
    return user


async def test_the_creator_is_the_owner(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    async with database.session() as session:
        membership, members = await teams_service.get_team_detail(session, team_id, owner)
    assert membership.role is TeamRole.owner
    assert [(m.user.email, m.role) for m in members] == [("owner@example.com", TeamRole.owner)]


async def test_the_last_owner_cannot_leave(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    with pytest.raises(Conflict, match="last owner"):
        async with database.session() as session:
            await teams_service.remove_member(session, team_id, owner, owner.id)


async def test_an_owner_may_leave_when_another_owner_remains(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    await join(database, team_id, owner, "second@example.com", TeamRole.owner)
    async with database.session() as session:
        await teams_service.remove_member(session, team_id, owner, owner.id)
    with pytest.raises(NotFound):
        async with database.session() as session:
            await teams_service.require_membership(session, team_id, owner)


async def test_admins_manage_members_but_not_owners(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    admin = await join(database, team_id, owner, "admin@example.com", TeamRole.admin)
    member = await join(database, team_id, admin, "member@example.com", TeamRole.member)
    await add_user(database, "would-be-owner@example.com")
    new = MemberCreate(email="would-be-owner@example.com", role=TeamRole.owner)
    with pytest.raises(PermissionDenied, match="Only team owners can add owners"):
        async with database.session() as session:
            await teams_service.add_member(session, team_id, admin, new)
    with pytest.raises(PermissionDenied, match="Only team owners can remove owners"):
        async with database.session() as session:
            await teams_service.remove_member(session, team_id, admin, owner.id)
    async with database.session() as session:
        await teams_service.remove_member(session, team_id, admin, member.id)


async def test_members_only_remove_themselves(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    first = await join(database, team_id, owner, "first@example.com", TeamRole.member)
    second = await join(database, team_id, owner, "second@example.com", TeamRole.member)
    new = MemberCreate(email="owner@example.com")
    with pytest.raises(PermissionDenied, match="Only team owners and admins can add members"):
        async with database.session() as session:
            await teams_service.add_member(session, team_id, first, new)
    with pytest.raises(PermissionDenied, match="remove other members"):
        async with database.session() as session:
            await teams_service.remove_member(session, team_id, first, second.id)
    async with database.session() as session:
        await teams_service.remove_member(session, team_id, first, first.id)


async def test_outsiders_do_not_see_the_team(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    outsider = await add_user(database, "outsider@example.com")
    with pytest.raises(NotFound):
        async with database.session() as session:
            await teams_service.get_team_detail(session, team_id, outsider)
