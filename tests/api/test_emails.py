"""Assignment emails through a real SMTP server on loopback, sent only after commit."""

import logging

import httpx
import pytest

from harness.api import Actor, AppFactory, UserFactory, add_member, create_project, create_task, create_team
from harness.smtp import Mailbox


@pytest.fixture
async def setup(mail_client: httpx.AsyncClient, mailbox: Mailbox, make_user: UserFactory) -> tuple[Actor, Actor, str]:
    alice = await make_user("alice@example.com", full_name="Alice")
    bob = await make_user("bob@example.com", full_name="Bob")
    team = await create_team(mail_client, alice)
    await add_member(mail_client, alice, team["id"], bob)
    project = await create_project(mail_client, alice, team["id"], "Launch")
    mailbox.messages.clear()  # bob's invitation
    return alice, bob, project["id"]


async def test_assignee_gets_an_email_on_create(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, setup: tuple[Actor, Actor, str]
) -> None:
    alice, bob, project_id = setup
    response = await mail_client.post(
        f"/api/v1/projects/{project_id}/tasks",
        json={"title": "Book venue", "assignee_id": str(bob.id)},
        headers=alice.headers,
    )
    assert response.status_code == 201
    assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == bob.email
    assert message["From"] == "Bosun <bosun@example.com>"
    assert "Book venue" in message["Subject"]
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    assert "Alice assigned you" in body.decode()
    assert "Launch" in body.decode()


async def test_email_on_reassignment_only(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, setup: tuple[Actor, Actor, str]
) -> None:
    alice, bob, project_id = setup
    task = await create_task(mail_client, alice, project_id)
    assert mailbox.messages == []  # no assignee
    url = f"/api/v1/tasks/{task['id']}"
    await mail_client.patch(url, json={"assignee_id": str(bob.id)}, headers=alice.headers)
    assert len(mailbox.messages) == 1
    await mail_client.patch(url, json={"assignee_id": str(bob.id), "status": "done"}, headers=alice.headers)
    assert len(mailbox.messages) == 1  # same assignee: no new email
    await mail_client.patch(url, json={"assignee_id": str(alice.id)}, headers=alice.headers)
    assert len(mailbox.messages) == 1  # assigning yourself: no email


async def test_no_email_when_the_change_fails(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, setup: tuple[Actor, Actor, str]
) -> None:
    alice, bob, project_id = setup
    task = await create_task(mail_client, alice, project_id)
    stale = await mail_client.patch(
        f"/api/v1/tasks/{task['id']}", json={"assignee_id": str(bob.id)}, headers={**alice.headers, "If-Match": '"9"'}
    )
    assert stale.status_code == 412
    assert mailbox.messages == []


async def test_smtp_failure_does_not_fail_the_request(
    mail_client: httpx.AsyncClient, mailbox: Mailbox, setup: tuple[Actor, Actor, str], caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob, project_id = setup
    mailbox.refuse = True
    with caplog.at_level(logging.ERROR, logger="app.core.email"):
        response = await mail_client.post(
            f"/api/v1/projects/{project_id}/tasks",
            json={"title": "t", "assignee_id": str(bob.id)},
            headers=alice.headers,
        )
    assert response.status_code == 201
    assert mailbox.messages == []
    assert "sending email to bob@example.com failed" in caplog.text
    # The task was saved all the same.
    assert (await mail_client.get(f"/api/v1/tasks/{response.json()['id']}", headers=alice.headers)).status_code == 200


async def test_unreachable_smtp_server(
    make_client: AppFactory, make_user: UserFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(SMTP_HOST="127.0.0.1", SMTP_PORT=9, SMTP_STARTTLS=False, SMTP_TIMEOUT=2)
    alice = await make_user("alice@example.com")
    bob = await make_user("bob@example.com")
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob)
    project = await create_project(client, alice, team["id"])
    with caplog.at_level(logging.ERROR, logger="app.core.email"):
        response = await client.post(
            f"/api/v1/projects/{project['id']}/tasks",
            json={"title": "t", "assignee_id": str(bob.id)},
            headers=alice.headers,
        )
    assert response.status_code == 201
    assert "failed" in caplog.text


async def test_without_smtp_the_email_is_logged(
    client: httpx.AsyncClient, alice: Actor, bob: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    team = await create_team(client, alice)
    await add_member(client, alice, team["id"], bob)
    project = await create_project(client, alice, team["id"])
    with caplog.at_level(logging.INFO, logger="app.core.email"):
        await client.post(
            f"/api/v1/projects/{project['id']}/tasks",
            json={"title": "Logged", "assignee_id": str(bob.id)},
            headers=alice.headers,
        )
    assert "SMTP not configured; email to bob@example.com not sent" in caplog.text
