"""Invitation tokens read from a Maildir, as the load test reads them."""

import mailbox
from email.message import EmailMessage
from pathlib import Path

from loadtests.mail import new_token, token_in, wait_for_token

TOKEN = "Q" * 43


def email(to: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["To"], message["Subject"] = to, "Alice invited you to Platform on Bosun"
    message.set_content(body)
    return message


def invitation(token: str) -> str:
    return f"Log in and accept the invitation with this token:\n\n    {token}\n\nThe invitation works once.\n"


def test_the_token_of_an_invitation_email() -> None:
    assert token_in(email("a@example.com", invitation(TOKEN))) == TOKEN
    assert token_in(email("a@example.com", "Alice assigned you a task.")) is None


def test_each_email_gives_its_token_once_to_its_address(tmp_path: Path) -> None:
    box = mailbox.Maildir(tmp_path / "mail")
    box.add(email("other@example.com", invitation("O" * 43)))
    box.add(email("Mate@Example.com", invitation(TOKEN)))
    taken: set[str] = set()
    assert new_token(tmp_path / "mail", "mate@example.com", taken) == TOKEN
    assert new_token(tmp_path / "mail", "mate@example.com", taken) is None  # used already
    box.add(email("mate@example.com", invitation("R" * 43)))
    assert new_token(tmp_path / "mail", "mate@example.com", taken) == "R" * 43


def test_waiting_gives_up_after_the_timeout(tmp_path: Path) -> None:
    mailbox.Maildir(tmp_path / "mail")
    slept: list[float] = []
    assert wait_for_token(tmp_path / "mail", "nobody@example.com", set(), timeout=0, sleep=slept.append) is None
    assert slept == []
