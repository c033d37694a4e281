"""Invitation tokens from the emails the service sent, read from the Maildir the load test's SMTP server fills."""

import mailbox
import re
import time
from collections.abc import Callable
from email.message import Message
from pathlib import Path

# The token line of an invitation email without WEB_APP_URL (app/services/notifications.py).
_TOKEN = re.compile(r"token:\s+([A-Za-z0-9_-]{32,128})\s")


def token_in(message: Message) -> str | None:
    """The invitation token an email carries, if any."""
    payload = message.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    found = _TOKEN.search(payload.decode(errors="replace"))
    return found.group(1) if found else None


def new_token(folder: Path, address: str, taken: set[str]) -> str | None:
    """The token of an invitation to `address` not in `taken` (which it joins), or None while none has come."""
    for key, message in mailbox.Maildir(folder, create=False).iteritems():
        if key in taken or str(message["To"]).lower() != address.lower():
            continue
        token = token_in(message)
        if token is not None:
            taken.add(key)
            return token
    return None


def wait_for_token(
    folder: Path, address: str, taken: set[str], timeout: float, sleep: Callable[[float], object] = time.sleep
) -> str | None:
    """new_token, asked again until an email comes or `timeout` seconds pass (the service sends it after answering)."""
    deadline = time.monotonic() + timeout
    while True:
        token = new_token(folder, address, taken)
        if token is not None or time.monotonic() >= deadline:
            return token
        sleep(0.1)
