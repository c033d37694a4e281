"""What Bosun accepts as an email address, in one place for sign-up, members and managed-auth tokens."""

from email_validator import EmailNotValidError, validate_email

from app.core.text import unstorable_reason

MAX_EMAIL_LENGTH = 320


def normalize_email(value: str) -> str:
    """The address in canonical lower case; ValueError saying what is wrong otherwise.

    Syntax only, nothing is looked up: a domain needs a dot, and of the reserved names only `.test` (RFC 2606, for
    testing) is accepted; `.local`, `.localhost`, `.invalid`, `.onion` and `.arpa` never receive mail.
    """
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    try:
        checked = validate_email(value.strip(), check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address: {exc}") from None
    if len(checked.normalized) > MAX_EMAIL_LENGTH:
        raise ValueError(f"must be at most {MAX_EMAIL_LENGTH} characters")
    return checked.normalized.lower()
