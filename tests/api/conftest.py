"""Fixtures of the API tests that send email: a real SMTP server on loopback and an app that uses it."""

from collections.abc import Iterator

import httpx
import pytest

from harness.api import AppFactory
from harness.smtp import Mailbox, smtp_server


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


@pytest.fixture
async def mail_client(make_client: AppFactory, mailbox: Mailbox) -> httpx.AsyncClient:
    return await make_client(
        SMTP_HOST=mailbox.host, SMTP_PORT=mailbox.port, SMTP_STARTTLS=False, EMAIL_FROM="Bosun <bosun@example.com>"
    )
