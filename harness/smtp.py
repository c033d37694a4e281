"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox as MaildirHandler
from aiosmtpd.smtp import SMTP, Envelope, Session

from harness.ports import free_port


@dataclass
class Mailbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    refuse: bool = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "554 Transaction failed"
        content = envelope.content
        assert isinstance(content, bytes)
        self.messages.append(message_from_bytes(content))
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server() -> Iterator[Mailbox]:
    """Run an SMTP server for the duration of the block."""
    mailbox = Mailbox(host="127.0.0.1", port=free_port())
    controller = Controller(mailbox, hostname=mailbox.host, port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


@contextmanager
def smtp_to_maildir(folder: Path) -> Iterator[tuple[str, int]]:
    """Run an SMTP server that delivers every message into the Maildir `folder` (readable by other processes);
    yields its (host, port)."""
    host, port = "127.0.0.1", free_port()
    controller = Controller(MaildirHandler(folder), hostname=host, port=port)
    controller.start()
    try:
        yield host, port
    finally:
        controller.stop()
