"""Team rules that live in the service, called without HTTP: roles decide who manages, a team keeps an owner."""

import uuid
from datetime import timedelta

import pytest

from app.core.db import Database
from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.models.invitations import InvitationCreate
from app.models.teams import MemberCreate, TeamCreate, TeamRole
from app.models.users import User
from app.services import invitations as invitations_service
from app.services import teams as teams_service


async def add_user(database: Database, email: str, *, superuser: bool = False) -> User:
    async with database.session() as session:
        user = User(email=email, is_superuser=superuser)
        session.add(user)
    return user


@pytest.fixture
async def owner(database: Database) -> User:
    return await add_user(database, "owner@example.com")


async def new_team(database: Database, owner: User) -> uuid.UUID:
    async with database.session() as session:
        membership = await teams_service.create_team(session, owner, TeamCreate(name="Platform"))
    return membership.team_id


async def join(database: Database, team_id: uuid.UUID, email: str, role: TeamRole) -> User:
    """A new user in the team, added directly by an instance superuser."""
    user = await add_user(database, email)
    root = await add_user(database, f"root-{uuid.uuid4().hex[:8]}@example.com", superuser=True)
    async with database.session() as session:
        await teams_service.add_member(session, team_id, root, MemberCreate(email=email, role=role))
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
    await join(database, team_id, "second@example.com", TeamRole.owner)
    async with database.session() as session:
        await teams_service.remove_member(session, team_id, owner, owner.id)
    with pytest.raises(NotFound):
        async with database.session() as session:
            await teams_service.require_membership(session, team_id, owner)


async def test_admins_manage_members_but_not_owners(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    admin = await join(database, team_id, "admin@example.com", TeamRole.admin)
    member = await join(database, team_id, "member@example.com", TeamRole.member)
    new = InvitationCreate(email="would-be-owner@example.com", role=TeamRole.owner)
    with pytest.raises(PermissionDenied, match="Only team owners can invite owners"):
        async with database.session() as session:
            await invitations_service.invite(session, team_id, admin, new, lifetime=timedelta(days=1))
    with pytest.raises(PermissionDenied, match="Only team owners can remove owners"):
        async with database.session() as session:
            await teams_service.remove_member(session, team_id, admin, owner.id)
    async with database.session() as session:
        await teams_service.remove_member(session, team_id, admin, member.id)


async def test_members_only_remove_themselves(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    first = await join(database, team_id, "first@example.com", TeamRole.member)
    second = await join(database, team_id, "second@example.com", TeamRole.member)
    new = InvitationCreate(email="third@example.com")
    with pytest.raises(PermissionDenied, match="Only team owners and admins can manage invitations"):
        async with database.session() as session:
            await invitations_service.invite(session, team_id, first, new, lifetime=timedelta(days=1))
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


async def test_only_superusers_add_directly(database: Database, owner: User) -> None:
    team_id = await new_team(database, owner)
    await add_user(database, "known@example.com")
    root = await add_user(database, "root@example.com", superuser=True)
    with pytest.raises(PermissionDenied, match="invite them by email instead"):
        async with database.session() as session:
            await teams_service.add_member(session, team_id, owner, MemberCreate(email="known@example.com"))
    with pytest.raises(InvalidInput, match="no user is registered"):
        async with database.session() as session:
            await teams_service.add_member(session, team_id, root, MemberCreate(email="ghost@example.com"))
    with pytest.raises(NotFound, match="Team not found"):
        async with database.session() as session:
            await teams_service.add_member(session, uuid.uuid4(), root, MemberCreate(email="known@example.com"))
    async with database.session() as session:
        added = await teams_service.add_member(session, team_id, root, MemberCreate(email="known@example.com"))
    assert (added.user.email, added.role, added.team.id) == ("known@example.com", TeamRole.member, team_id)
    with pytest.raises(Conflict, match="already a member"):
        async with database.session() as session:
            await teams_service.add_member(session, team_id, root, MemberCreate(email="known@example.com"))
