"""Login throttling's decisions, without a server: keys, limits, lock-out lengths and the settings that bound them."""

import re
from datetime import timedelta

import pytest
from pydantic import ValidationError

from app.core.config import Settings
from app.models.common import utc_now
from app.services.login_throttle import limits, lockout_schedule, login_keys, retry_after


@pytest.mark.parametrize(
    ("window", "longest", "schedule"),
    [
        (900, 86_400, (900, 1800, 3600, 7200, 14_400, 28_800, 57_600, 86_400)),
        (60, 200, (60, 120, 200)),
        (60, 60, (60,)),
        (60, 240, (60, 120, 240)),
        (1, 1, (1,)),
        (86_400, 7 * 86_400, (86_400, 172_800, 345_600, 604_800)),
    ],
)
def test_lock_outs_double_up_to_the_bound(window: int, longest: int, schedule: tuple[int, ...]) -> None:
    assert lockout_schedule(window, longest) == schedule


def test_keys_are_hmacs_that_keep_counters_apart() -> None:
    settings = Settings.from_mapping({"SECRET_KEY": "k" * 40})
    keys = login_keys(settings, " Ada@Example.com ", "203.0.113.1")
    assert keys == login_keys(settings, "ada@example.com", "203.0.113.1")  # emails compare case-insensitively
    assert len({keys.pair, keys.account, keys.client}) == 3
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in (keys.pair, keys.account, keys.client))
    elsewhere = login_keys(settings, "ada@example.com", "198.51.100.1")
    assert (elsewhere.account, elsewhere.pair != keys.pair, elsewhere.client != keys.client) == (
        keys.account,
        True,
        True,
    )
    other_secret = login_keys(Settings.from_mapping({"SECRET_KEY": "j" * 40}), "ada@example.com", "203.0.113.1")
    assert other_secret.account != keys.account
    assert login_keys(settings, "ada@example.com", None).client == login_keys(settings, "x@example.com", None).client
    assert keys.owned == (keys.pair, keys.account)


def test_each_key_has_its_limit() -> None:
    settings = Settings.from_mapping(
        {"LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT": 3, "LOGIN_FAILURES_PER_ACCOUNT": 40, "LOGIN_FAILURES_PER_CLIENT": 70}
    )
    keys = login_keys(settings, "ada@example.com", "203.0.113.1")
    assert limits(settings, keys) == ((keys.pair, 3), (keys.account, 40), (keys.client, 70))


def test_defaults_keep_the_owner_in() -> None:
    settings = Settings.from_mapping({})
    assert settings.LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT == 5
    assert settings.LOGIN_FAILURES_PER_ACCOUNT == 100
    assert settings.LOGIN_FAILURE_WINDOW_SECONDS == 900 and settings.LOGIN_LOCKOUT_MAX_SECONDS == 86_400


def test_retry_after_is_whole_seconds_and_at_least_one() -> None:
    now = utc_now()
    assert retry_after(now + timedelta(seconds=59.2), now) == 60
    assert retry_after(now + timedelta(milliseconds=10), now) == 1
    assert retry_after(now, now) == 1


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT": 10, "LOGIN_FAILURES_PER_ACCOUNT": 5}, "at least"),
        ({"LOGIN_FAILURE_WINDOW_SECONDS": 600, "LOGIN_LOCKOUT_MAX_SECONDS": 300}, "LOGIN_LOCKOUT_MAX_SECONDS"),
        ({"LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT": 0}, "LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT"),
        ({"LOGIN_FAILURES_PER_ACCOUNT": -1}, "LOGIN_FAILURES_PER_ACCOUNT"),
        ({"LOGIN_LOCKOUT_MAX_SECONDS": 10**12}, "LOGIN_LOCKOUT_MAX_SECONDS"),
        ({"LOGIN_LOCKOUT_MAX_SECONDS": "a day"}, "LOGIN_LOCKOUT_MAX_SECONDS"),
        ({"INVITATION_EXPIRE_DAYS": 0}, "INVITATION_EXPIRE_DAYS"),
        ({"INVITATION_EXPIRE_DAYS": 10**20}, "INVITATION_EXPIRE_DAYS"),
        ({"INVITATION_EXPIRE_DAYS": "7\x00"}, "INVITATION_EXPIRE_DAYS"),
    ],
)
def test_bad_throttle_settings_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.from_mapping(values)
