"""What makes a password too weak to accept: one of the most common ones, or the account's own email."""

from functools import cache

MIN_LENGTH = 8
MAX_LENGTH = 128


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords of public breaches (lower case); loaded on first use.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, email: str | None = None) -> str | None:
    """Why this password must be refused (a sentence for the client), or None when it is acceptable."""
    lowered = password.strip().lower()
    if lowered in _common_passwords():
        return "is one of the most common passwords; choose another"
    if email:
        email = email.strip().lower()
        if lowered in (email, email.split("@", 1)[0]):
            return "must not be your email address"
    return None
