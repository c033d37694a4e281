"""Team invitations by email, through a real SMTP server: the same answer whether or not an address has an account,
single-use hashed tokens that expire, accept/list/revoke, and clear problems for every way a token can be wrong."""

import hashlib
import logging
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import Message
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update
from sqlmodel import col, select

from app.models.invitations import Invitation
from app.models.teams import Team
from harness.api import (
    PASSWORD,
    Actor,
    AppFactory,
    UserFactory,
    add_member,
    assert_problem,
    create_team,
    database_of,
    login,
)
from harness.jwks import ISSUER, JWKSServer, jwks_server, new_rsa_key
from harness.smtp import Mailbox

ACCEPT = "/api/v1/invitations/accept"


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def token_in(message: Message) -> str:
    found = re.search(r"token:\s+([A-Za-z0-9_-]+)\s|#invitation=([A-Za-z0-9_-]+)\s", body_of(message))
    assert found, body_of(message)
    return found.group(1) or found.group(2)


async def invite(
    client: httpx.AsyncClient, actor: Actor, team_id: str, email: str, role: str = "member"
) -> httpx.Response:
    return await client.post(
        f"/api/v1/teams/{team_id}/invitations", json={"email": email, "role": role}, headers=actor.headers
    )


async def accept(client: httpx.AsyncClient, actor: Actor, token: object) -> httpx.Response:
    return await client.post(ACCEPT, json={"token": token}, headers=actor.headers)


async def pending(client: httpx.AsyncClient, actor: Actor, team_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/teams/{team_id}/invitations", headers=actor.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor
) -> None:
    team = await create_team(mail_client, alice, "Platform")
    answers = [await invite(mail_client, alice, team["id"], email) for email in (bob.email, "ghost@example.com")]
    assert [answer.status_code for answer in answers] == [202, 202]
    assert len({answer.headers["x-query-count"] for answer in answers}) == 1
    shapes = [{key: value for key, value in answer.json().items() if key not in ("id", "email")} for answer in answers]
    for shape in shapes:  # the times differ by the moment each was sent
        shape.pop("created_at"), shape.pop("expires_at")
    assert (
        shapes[0]
        == shapes[1]
        == {
            "team": {"id": team["id"], "name": "Platform"},
            "role": "member",
            "invited_by": {"id": str(alice.id), "email": alice.email, "full_name": "Alice"},
        }
    )
    assert set(answers[0].json()) == set(answers[1].json())
    # Both addresses get the same email, but for the address and the token.
    assert [message["To"] for message in mailbox.messages] == [bob.email, "ghost@example.com"]
    texts = [body_of(message).replace(token_in(message), "TOKEN") for message in mailbox.messages]
    assert texts[0] == texts[1]
    assert 'Alice invited you to join the team "Platform" on Bosun as member.' in texts[0]
    assert mailbox.messages[0]["Subject"] == mailbox.messages[1]["Subject"] == "Alice invited you to Platform on Bosun"
    created = answers[0].json()
    lifetime = datetime.fromisoformat(created["expires_at"]) - datetime.fromisoformat(created["created_at"])
    assert lifetime == timedelta(days=7)


async def test_the_emailed_token_makes_the_addressee_a_member_once(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor
) -> None:
    team = await create_team(mail_client, alice)
    assert (await invite(mail_client, alice, team["id"], "BOB@example.com", "admin")).status_code == 202
    token = token_in(mailbox.messages[-1])
    joined = await accept(mail_client, bob, token)
    assert joined.status_code == 200, joined.text
    assert joined.json()["id"] == team["id"] and joined.json()["role"] == "admin"
    detail = (await mail_client.get(f"/api/v1/teams/{team['id']}", headers=bob.headers)).json()
    assert {m["user"]["email"]: m["role"] for m in detail["members"]} == {alice.email: "owner", bob.email: "admin"}
    assert await pending(mail_client, alice, team["id"]) == []
    assert_problem(await accept(mail_client, bob, token), 409, "already accepted")  # replayed


async def test_someone_without_an_account_signs_up_and_accepts(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor
) -> None:
    team = await create_team(mail_client, alice)
    assert (await invite(mail_client, alice, team["id"], "newcomer@example.com")).status_code == 202
    signup = {"email": "Newcomer@Example.com", "password": PASSWORD}
    signed_up = await mail_client.post("/api/v1/auth/signup", json=signup)
    assert signed_up.status_code == 201, signed_up.text
    token = (await login(mail_client, "newcomer@example.com", PASSWORD)).json()["access_token"]
    newcomer = Actor(id=uuid.UUID(signed_up.json()["id"]), email="newcomer@example.com", token=token)
    assert (await accept(mail_client, newcomer, token_in(mailbox.messages[-1]))).status_code == 200
    assert (await mail_client.get(f"/api/v1/teams/{team['id']}", headers=newcomer.headers)).status_code == 200


async def test_another_account_cannot_use_the_token(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor, carol: Actor
) -> None:
    team = await create_team(mail_client, alice)
    await invite(mail_client, alice, team["id"], bob.email)
    token = token_in(mailbox.messages[-1])
    assert_problem(await accept(mail_client, carol, token), 403, "sent to another email address")
    assert_problem(await mail_client.get(f"/api/v1/teams/{team['id']}", headers=carol.headers), 404)
    # Refused, not used up: its addressee still can.
    assert (await accept(mail_client, bob, token)).status_code == 200


async def test_an_expired_invitation_is_gone(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor
) -> None:
    team = await create_team(mail_client, alice)
    await invite(mail_client, alice, team["id"], bob.email)
    async with database_of(mail_client).session() as session:
        await session.exec(update(Invitation).values(expires_at=col(Invitation.expires_at) - timedelta(days=8)))
    body = assert_problem(await accept(mail_client, bob, token_in(mailbox.messages[-1])), 410, "expired at")
    assert body["type"].endswith("/gone")
    assert await pending(mail_client, alice, team["id"]) == []


async def test_a_revoked_invitation_is_gone(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor
) -> None:
    team = await create_team(mail_client, alice)
    invitation = (await invite(mail_client, alice, team["id"], bob.email)).json()
    url = f"/api/v1/teams/{team['id']}/invitations/{invitation['id']}"
    assert [item["id"] for item in await pending(mail_client, alice, team["id"])] == [invitation["id"]]
    assert (await mail_client.delete(url, headers=alice.headers)).status_code == 204
    assert_problem(await mail_client.delete(url, headers=alice.headers), 404, "no pending invitation")
    assert await pending(mail_client, alice, team["id"]) == []
    assert_problem(await accept(mail_client, bob, token_in(mailbox.messages[-1])), 410, "revoked")


async def test_a_team_deleted_meanwhile(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor
) -> None:
    team = await create_team(mail_client, alice)
    await invite(mail_client, alice, team["id"], bob.email)
    async with database_of(mail_client).session() as session:
        await session.exec(delete(Team).where(col(Team.id) == uuid.UUID(team["id"])))
    assert_problem(await accept(mail_client, bob, token_in(mailbox.messages[-1])), 410, "team of this invitation")


async def test_joining_otherwise_meanwhile(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor, make_user: UserFactory
) -> None:
    team = await create_team(mail_client, alice)
    await invite(mail_client, alice, team["id"], bob.email)
    root = await make_user("root@example.com", superuser=True)
    added = await mail_client.post(
        f"/api/v1/teams/{team['id']}/members", json={"email": bob.email}, headers=root.headers
    )
    assert added.status_code == 201
    assert_problem(await accept(mail_client, bob, token_in(mailbox.messages[-1])), 409, "already a member")


async def test_inviting_again_renews_the_invitation(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor
) -> None:
    team = await create_team(mail_client, alice)
    first = (await invite(mail_client, alice, team["id"], bob.email)).json()
    old_token = token_in(mailbox.messages[-1])
    second = (await invite(mail_client, alice, team["id"], bob.email, "admin")).json()
    new_token = token_in(mailbox.messages[-1])
    assert second["id"] == first["id"] and second["role"] == "admin" and new_token != old_token
    assert [(item["id"], item["role"]) for item in await pending(mail_client, alice, team["id"])] == [
        (first["id"], "admin")
    ]
    assert_problem(await accept(mail_client, bob, old_token), 422, "no invitation has this token")
    assert (await accept(mail_client, bob, new_token)).json()["role"] == "admin"
    # A member is not invited again: the team's managers see its members anyway.
    assert_problem(await invite(mail_client, alice, team["id"], bob.email), 409, "already a member")


async def test_who_manages_invitations(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, carol: Actor, make_user: UserFactory
) -> None:
    team = await create_team(client, alice)
    dave = await make_user("dave@example.com")
    await add_member(client, alice, team["id"], bob, "admin")
    await add_member(client, alice, team["id"], carol, "member")
    base = f"/api/v1/teams/{team['id']}/invitations"
    # Plain members neither invite, list nor revoke.
    assert_problem(await invite(client, carol, team["id"], "x@example.com"), 403)
    assert_problem(await client.get(base, headers=carol.headers), 403)
    by_owner = (await invite(client, alice, team["id"], "new-owner@example.com", "owner")).json()
    by_admin = (await invite(client, bob, team["id"], "new-member@example.com")).json()
    assert_problem(await client.delete(f"{base}/{by_admin['id']}", headers=carol.headers), 403)
    # Admins invite members and admins, not owners, and cannot revoke an owner's invitation.
    assert_problem(await invite(client, bob, team["id"], "x@example.com", "owner"), 403, "only team owners")
    assert_problem(await client.delete(f"{base}/{by_owner['id']}", headers=bob.headers), 403, "only team owners")
    assert (await client.delete(f"{base}/{by_admin['id']}", headers=bob.headers)).status_code == 204
    assert (await client.delete(f"{base}/{by_owner['id']}", headers=alice.headers)).status_code == 204
    # Outsiders learn nothing, not even that the team or the invitation exists.
    assert_problem(await client.get(base, headers=dave.headers), 404, "team not found")
    assert_problem(await client.delete(f"{base}/{by_owner['id']}", headers=dave.headers), 404, "team not found")
    other = await create_team(client, dave)
    elsewhere = f"/api/v1/teams/{other['id']}/invitations/{by_admin['id']}"
    assert_problem(await client.delete(elsewhere, headers=dave.headers), 404, "no pending invitation")


async def test_the_list_pages_newest_first(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    for number in range(3):
        assert (await invite(client, alice, team["id"], f"p{number}@example.com")).status_code == 202
    url = f"/api/v1/teams/{team['id']}/invitations"
    page = (await client.get(url, params={"limit": 2}, headers=alice.headers)).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    assert [item["email"] for item in page["items"]] == ["p2@example.com", "p1@example.com"]
    rest = (await client.get(url, params={"limit": 2, "offset": 2}, headers=alice.headers)).json()
    assert [item["email"] for item in rest["items"]] == ["p0@example.com"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a\u0000b@example.com"}, "email"),
        ({"email": "a" * 300 + "@example.com"}, "email"),
        ({"email": "x" * 100_000}, "email"),
        ({"email": ""}, "email"),
        ({"email": 42}, "email"),
        ({"email": ["a@example.com"]}, "email"),
        ({"email": None}, "email"),
        ({}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@example.com", "role": "boss"}, "role"),
        ({"email": "a@example.com", "role": -1}, "role"),
        ({"email": "a@example.com", "role": None}, "role"),
        ({"email": "a@example.com", "team_id": str(uuid.uuid4())}, "team_id"),
    ],
)
async def test_hostile_invitations_are_422(
    client: httpx.AsyncClient, alice: Actor, body: dict[str, object], field: str
) -> None:
    team = await create_team(client, alice)
    response = await client.post(f"/api/v1/teams/{team['id']}/invitations", json=body, headers=alice.headers)
    problem = assert_problem(response, 422)
    assert any(error["loc"][-1] == field for error in problem["errors"]), problem


@pytest.mark.parametrize(
    "token",
    [
        "a" * 20 + "\u0000" + "a" * 20,
        "a" * 100_000,
        "a" * 129,
        "short",
        "",
        "a" * 40 + "=",
        "a" * 40 + " ",
        "../../" + "a" * 40,
        "a" * 40 + "\u00e9",
        42,
        -1,
        10**40,
        None,
        ["a" * 43],
        {"token": "a" * 43},
        True,
    ],
)
async def test_hostile_tokens_are_422(client: httpx.AsyncClient, alice: Actor, token: object) -> None:
    problem = assert_problem(await accept(client, alice, token), 422)
    assert problem["errors"][0]["loc"] == ["body", "token"]


async def test_other_hostile_accept_bodies_are_422(client: httpx.AsyncClient, alice: Actor) -> None:
    bodies: list[object] = [{}, {"token": "a" * 43, "team_id": str(uuid.uuid4())}, [], "a" * 43]
    for body in bodies:
        assert_problem(await client.post(ACCEPT, json=body, headers=alice.headers), 422)
    not_json = await client.post(ACCEPT, content=b"token=abc", headers={**alice.headers, "Content-Type": "text/plain"})
    assert_problem(not_json, 415)
    assert_problem(await client.post(ACCEPT, json={"token": "a" * 43}), 401)
    bad_id = await client.delete(f"/api/v1/teams/{uuid.uuid4()}/invitations/not-a-uuid", headers=alice.headers)
    assert_problem(bad_id, 422)


async def test_a_well_formed_token_that_names_nothing_is_422(client: httpx.AsyncClient, alice: Actor) -> None:
    problem = assert_problem(await accept(client, alice, "A" * 43), 422, "no invitation has this token")
    assert problem["type"].endswith("/validation-error")


async def test_no_token_or_hash_is_logged_or_stored(
    make_client: AppFactory, make_user: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """Without SMTP the email is logged instead of sent: its subject, never its token."""
    client = await make_client(SMTP_HOST=None, LOG_LEVEL="DEBUG")
    alice = await make_user("alice@example.com", full_name="Alice")
    bob = await make_user("bob@example.com")
    team = await create_team(client, alice)
    with caplog.at_level(logging.DEBUG):
        invited = await invite(client, alice, team["id"], bob.email)
        async with database_of(client).session() as session:
            stored = (await session.exec(select(Invitation))).one()
        # The token is not in the answer, the log or the table; only its hash is stored.
        assert stored.token_hash not in invited.text
        listing = await client.get(f"/api/v1/teams/{team['id']}/invitations", headers=alice.headers)
        assert "token" not in listing.text and stored.token_hash not in listing.text
        token = "B" * 43
        async with database_of(client).session() as session:
            await session.exec(update(Invitation).values(token_hash=hashlib.sha256(token.encode()).hexdigest()))
        assert (await accept(client, bob, token)).status_code == 200
        assert_problem(await accept(client, bob, token), 409)
        assert_problem(await accept(client, bob, "C" * 43), 422)
    assert "SMTP not configured; email to bob@example.com not sent: Alice invited you to Platform" in caplog.text
    for secret in (token, "C" * 43, stored.token_hash):
        assert secret not in caplog.text


async def test_a_mail_failure_does_not_fail_the_invitation(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    team = await create_team(mail_client, alice)
    mailbox.refuse = True
    with caplog.at_level(logging.ERROR, logger="app.core.email"):
        invited = await invite(mail_client, alice, team["id"], "someone@example.com")
    assert invited.status_code == 202
    assert "sending email to someone@example.com failed" in caplog.text
    assert [item["email"] for item in await pending(mail_client, alice, team["id"])] == ["someone@example.com"]


async def test_names_with_line_breaks_stay_in_the_subject(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: UserFactory
) -> None:
    owner = await make_user("owner@example.com", full_name="Eve\r\nBcc: victim@example.com")
    team = await create_team(mail_client, owner, "Ops\nTeam")
    assert (await invite(mail_client, owner, team["id"], "someone@example.com")).status_code == 202
    message = mailbox.messages[-1]
    assert message["Subject"] == "Eve Bcc: victim@example.com invited you to Ops Team on Bosun"
    assert message["Bcc"] is None and message["To"] == "someone@example.com"


async def test_the_email_links_to_the_web_app_when_it_is_set(
    make_client: AppFactory, mailbox: Mailbox, make_user: UserFactory
) -> None:
    client = await make_client(
        SMTP_HOST=mailbox.host, SMTP_PORT=mailbox.port, SMTP_STARTTLS=False, WEB_APP_URL="https://app.example.com/"
    )
    alice = await make_user("alice@example.com")
    bob = await make_user("bob@example.com")
    team = await create_team(client, alice)
    await invite(client, alice, team["id"], bob.email)
    text = body_of(mailbox.messages[-1])
    link = re.search(r"https://app\.example\.com/#invitation=([A-Za-z0-9_-]{43})\s", text)
    assert link, text
    assert (await accept(client, bob, link.group(1))).status_code == 200


# the caller; their membership (accept: the invitation and its team, locked); the check the route makes
# (a member already? the invitation to revoke) or the list's page with its total; the write(s): accepting adds the
# membership and marks the invitation accepted.
QUERY_COUNTS = {"invite": 4, "list": 3, "revoke": 4, "accept": 5}


async def test_statements_per_route(mail_client: httpx.AsyncClient, mailbox: Mailbox, alice: Actor, bob: Actor) -> None:
    """Each route runs a fixed number of SQL statements; the list's does not grow with the page size."""
    team = await create_team(mail_client, alice)
    counts: dict[str, set[str]] = {name: set() for name in QUERY_COUNTS}
    for number in range(12):
        counts["invite"].add(
            (await invite(mail_client, alice, team["id"], f"p{number}@example.com")).headers["x-query-count"]
        )
    url = f"/api/v1/teams/{team['id']}/invitations"
    for limit in (1, 12):
        listed = await mail_client.get(url, params={"limit": limit}, headers=alice.headers)
        assert len(listed.json()["items"]) == limit
        counts["list"].add(listed.headers["x-query-count"])
    revoked = await mail_client.delete(f"{url}/{listed.json()['items'][0]['id']}", headers=alice.headers)
    counts["revoke"].add(revoked.headers["x-query-count"])
    await invite(mail_client, alice, team["id"], bob.email)
    counts["accept"].add((await accept(mail_client, bob, token_in(mailbox.messages[-1]))).headers["x-query-count"])
    assert counts == {name: {str(count)} for name, count in QUERY_COUNTS.items()}


# Managed auth: the token's verified email claim decides, not the profile's address (which its owner may change).


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    with jwks_server([new_rsa_key("rsa-1")]) as server:
        yield server


@pytest.fixture
async def managed(make_client: AppFactory, jwks: JWKSServer, mailbox: Mailbox) -> httpx.AsyncClient:
    return await make_client(
        AUTH_MODE="jwks",
        JWKS_URL=jwks.url,
        JWT_ISSUER=ISSUER,
        SMTP_HOST=mailbox.host,
        SMTP_PORT=mailbox.port,
        SMTP_STARTTLS=False,
    )


def managed_actor(jwks: JWKSServer, subject: str, email: str) -> Actor:
    """A managed-auth caller (its id is not known here, and not needed)."""
    return Actor(id=uuid.uuid4(), email=email, token=jwks.sign(sub=subject, email=email))


async def test_managed_accounts_accept_with_their_verified_claim(
    managed: httpx.AsyncClient, jwks: JWKSServer, mailbox: Mailbox
) -> None:
    owner = managed_actor(jwks, "owner", "owner@example.com")
    invitee = managed_actor(jwks, "invitee", "invitee@example.com")
    impostor = managed_actor(jwks, "impostor", "impostor@example.com")
    team = await create_team(managed, owner)
    await invite(managed, owner, team["id"], invitee.email)
    token = token_in(mailbox.messages[-1])
    # The impostor changes their profile's address to the invited one: the verified claim still says otherwise.
    assert (await managed.get("/api/v1/users/me", headers=invitee.headers)).status_code == 200
    renamed = await managed.patch("/api/v1/users/me", json={"email": "elsewhere@example.com"}, headers=invitee.headers)
    assert renamed.status_code == 200
    moved = await managed.patch("/api/v1/users/me", json={"email": invitee.email}, headers=impostor.headers)
    assert moved.status_code == 200
    assert_problem(await accept(managed, impostor, token), 403, "another email address")
    # A token that does not vouch for its address accepts nothing.
    unverified = Actor(invitee.id, invitee.email, jwks.sign(sub="invitee", email=invitee.email, email_verified=False))
    assert_problem(await accept(managed, unverified, token), 403, "no verified email")
    no_email = Actor(invitee.id, invitee.email, jwks.sign(sub="invitee"))
    assert_problem(await accept(managed, no_email, token), 403, "no verified email")
    # The invitee, whose profile now says another address, accepts with the verified claim.
    joined = await accept(managed, invitee, token)
    assert joined.status_code == 200, joined.text
    assert joined.json()["role"] == "member"
