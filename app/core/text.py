"""What text PostgreSQL can store, checked once for every input: API fields and token claims alike."""


def unstorable_reason(value: str) -> str | None:
    """Why this text cannot be stored (a phrase for an error message), or None when it can.

    PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (a JSON escape such as "\\ud800") has no UTF-8 form:
    both are invalid input, to refuse before the database turns them into a server error.
    """
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode()
    except UnicodeEncodeError:
        return "must be valid Unicode (no unpaired surrogates such as \\ud800)"
    return None
