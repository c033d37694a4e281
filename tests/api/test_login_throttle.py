"""Login throttling: strangers cannot lock an owner out, the owner's own address and distributed attacks are slowed
down, lock-outs grow and stay bounded, and no refusal says which limit it came from."""

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlmodel import col, select

from app.models.login_failures import LoginFailure, LoginLockout
from harness.api import PASSWORD, AppFactory, UserFactory, assert_problem, database_of, login

# Addresses from the documentation ranges (RFC 5737): the stranger, the owner, and a botnet.
STRANGER = "203.0.113.66"
OWNER = "198.51.100.7"
BOTS = [f"192.0.2.{n}" for n in range(1, 40)]

At = Callable[[str], httpx.AsyncClient]
On = Callable[[httpx.AsyncClient], At]


@pytest.fixture
async def on() -> AsyncIterator[On]:
    """`on(client)(address)`: a client on the same app as `client` whose requests come from `address`."""
    async with AsyncExitStack() as stack:

        def clients(client: httpx.AsyncClient) -> At:
            app = client._transport.app  # type: ignore[attr-defined]

            def at(address: str) -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(address, 40000))
                other = httpx.AsyncClient(transport=transport, base_url="http://testserver")
                stack.push_async_callback(other.aclose)
                return other

            return at

        yield clients


async def pass_time(client: httpx.AsyncClient, seconds: float) -> None:
    """Move every recorded failure and lock-out `seconds` into the past, as if that much time had passed."""
    back = timedelta(seconds=seconds)
    async with database_of(client).session() as session:
        await session.exec(update(LoginFailure).values(failed_at=col(LoginFailure.failed_at) - back))
        await session.exec(
            update(LoginLockout).values(
                locked_at=col(LoginLockout.locked_at) - back, locked_until=col(LoginLockout.locked_until) - back
            )
        )


async def test_a_strangers_wrong_passwords_do_not_lock_the_owner_out(
    client: httpx.AsyncClient, make_user: UserFactory, on: On
) -> None:
    at = on(client)
    owner = await make_user("owner@example.com")
    stranger = at(STRANGER)
    statuses = [(await login(stranger, owner.email, f"guess-{n}")).status_code for n in range(50)]
    assert statuses == [401] * 5 + [429] * 45  # the default: 5 per account and address
    assert_problem(await login(stranger, owner.email, PASSWORD), 429)  # the stranger's address stays locked out
    assert (await login(at(OWNER), owner.email, PASSWORD)).status_code == 200


async def test_wrong_passwords_from_the_owners_address_still_throttle_it(
    client: httpx.AsyncClient, make_user: UserFactory, on: On
) -> None:
    at = on(client)
    owner = await make_user("typo@example.com")
    home = at(OWNER)
    for _ in range(5):
        assert_problem(await login(home, owner.email, "wrong-password"), 401)
    throttled = assert_problem(await login(home, owner.email, PASSWORD), 429, "too many failed logins")
    assert throttled["type"].endswith("/too-many-requests")
    # Another address the owner uses is not affected.
    assert (await login(at(STRANGER), owner.email, PASSWORD)).status_code == 200


async def test_a_distributed_attack_reaches_the_account_limit(
    make_client: AppFactory, make_user: UserFactory, on: On
) -> None:
    client = await make_client(LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=3, LOGIN_FAILURES_PER_ACCOUNT=12)
    at = on(client)
    owner = await make_user("target@example.com")
    for bot in BOTS[:4]:  # 4 addresses x 3 failures: none of them over its own limit, the account at 12
        for _ in range(3):
            assert_problem(await login(at(bot), owner.email, "wrong-password"), 401)
    assert_problem(await login(at(OWNER), owner.email, PASSWORD), 429)  # now the account is locked everywhere
    other = await make_user("bystander@example.com")
    assert (await login(at(OWNER), other.email, PASSWORD)).status_code == 200


async def test_one_address_trying_many_accounts_is_throttled(
    make_client: AppFactory, make_user: UserFactory, on: On
) -> None:
    client = await make_client(LOGIN_FAILURES_PER_CLIENT=4)
    at = on(client)
    user = await make_user("sprayed@example.com")
    for number in range(4):
        assert_problem(await login(at(STRANGER), f"guess-{number}@example.com", "wrong-password"), 401)
    assert_problem(await login(at(STRANGER), user.email, PASSWORD), 429)
    assert (await login(at(OWNER), user.email, PASSWORD)).status_code == 200


def _shape(response: httpx.Response) -> tuple[int, str, str, str, tuple[str, ...]]:
    """What a client sees of a refusal, with the numbers taken out: status, type, title, detail, header names."""
    body = response.json()
    detail = re.sub(r"\d+", "N", body["detail"])
    names = tuple(sorted(name for name in response.headers if name not in ("x-request-id", "content-length")))
    return response.status_code, body["type"], body["title"], detail, names


async def test_refusals_do_not_say_which_limit_was_hit(make_client: AppFactory, on: On) -> None:
    """For an unknown email (and a known one), a lock-out by address, by account or by client looks the same:
    same status, body, headers and the same SQL statements (the same work, so no difference in time either)."""
    client = await make_client(
        LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=2, LOGIN_FAILURES_PER_ACCOUNT=6, LOGIN_FAILURES_PER_CLIENT=8
    )
    at = on(client)
    refusals: dict[str, httpx.Response] = {}
    failures: list[httpx.Response] = []
    # By account and address: one address, one email.
    for _ in range(2):
        failures.append(await login(at(STRANGER), "nobody-1@example.com", "wrong-password"))
    refusals["pair"] = await login(at(STRANGER), "nobody-1@example.com", "wrong-password")
    # By account: three addresses, two failures each.
    for bot in BOTS[:3]:
        for _ in range(2):
            failures.append(await login(at(bot), "nobody-2@example.com", "wrong-password"))
    refusals["account"] = await login(at(OWNER), "nobody-2@example.com", "wrong-password")
    # By client: one address, eight emails.
    for number in range(8):
        failures.append(await login(at(BOTS[10]), f"nobody-{number + 10}@example.com", "wrong-password"))
    refusals["client"] = await login(at(BOTS[10]), "nobody-99@example.com", "wrong-password")
    assert {_shape(response) for response in refusals.values()} == {
        (429, "https://bosun.dev/problems/too-many-requests", "Too Many Requests",
         "Too many failed logins; try again in N seconds.", ("cache-control", "content-type", "retry-after",
                                                            "x-content-type-options", "x-query-count")),
    }  # fmt: skip
    assert {response.headers["x-query-count"] for response in refusals.values()} == {"1"}
    assert {response.headers["retry-after"] for response in refusals.values()} <= {"899", "900"}
    assert {_shape(response) for response in failures} == {
        (401, "https://bosun.dev/problems/not-authenticated", "Unauthorized", "Incorrect email or password.",
         ("cache-control", "content-type", "www-authenticate", "x-content-type-options", "x-query-count")),
    }  # fmt: skip
    # Every failure ran the same statements, whichever counter it then locked out.
    assert len({response.headers["x-query-count"] for response in failures}) == 1


async def test_unknown_and_known_emails_are_refused_alike(
    client: httpx.AsyncClient, make_user: UserFactory, on: On
) -> None:
    at = on(client)
    known = await make_user("known@example.com")
    answers: dict[str, list[httpx.Response]] = {}
    for email, address in ((known.email, BOTS[0]), ("unknown@example.com", BOTS[1])):
        answers[email] = [await login(at(address), email, "wrong-password") for _ in range(6)]
    first, second = answers.values()
    assert [_shape(r) for r in first] == [_shape(r) for r in second]
    assert [r.headers["x-query-count"] for r in first] == [r.headers["x-query-count"] for r in second]


async def test_lock_outs_grow_and_are_bounded(make_client: AppFactory, make_user: UserFactory, on: On) -> None:
    client = await make_client(
        LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=2, LOGIN_FAILURE_WINDOW_SECONDS=60, LOGIN_LOCKOUT_MAX_SECONDS=200
    )
    at = on(client)
    owner = await make_user("repeat@example.com")

    async def lock_out() -> int:
        for _ in range(2):
            assert_problem(await login(at(STRANGER), owner.email, "wrong-password"), 401)
        refused = await login(at(STRANGER), owner.email, PASSWORD)
        assert_problem(refused, 429)
        return int(refused.headers["retry-after"])

    waits = []
    for _ in range(4):
        waits.append(await lock_out())
        await pass_time(client, waits[-1] + 1)  # the lock-out ends
    # 60 s, then twice as long, then the bound; each a few seconds less at most, however slow the machine.
    assert 30 < waits[0] <= 60
    assert 60 < waits[1] <= 120
    assert 100 < waits[2] <= 200 and 100 < waits[3] <= 200
    # A successful login from that address resets the account's counters and the lock-outs they remember.
    assert (await login(at(STRANGER), owner.email, PASSWORD)).status_code == 200
    assert 30 < await lock_out() <= 60


async def test_lock_outs_are_forgotten_a_while_after_they_end(
    make_client: AppFactory, make_user: UserFactory, on: On
) -> None:
    client = await make_client(
        LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=1, LOGIN_FAILURE_WINDOW_SECONDS=60, LOGIN_LOCKOUT_MAX_SECONDS=300
    )
    at = on(client)
    owner = await make_user("patient@example.com")
    assert_problem(await login(at(STRANGER), owner.email, "wrong-password"), 401)
    await pass_time(client, 61)
    assert_problem(await login(at(STRANGER), owner.email, "wrong-password"), 401)
    second = int((await login(at(STRANGER), owner.email, PASSWORD)).headers["retry-after"])
    assert 60 < second <= 120  # the first was remembered
    await pass_time(client, 121 + 300)  # ended more than LOGIN_LOCKOUT_MAX_SECONDS ago: forgotten
    assert_problem(await login(at(STRANGER), owner.email, "wrong-password"), 401)
    assert 30 < int((await login(at(STRANGER), owner.email, PASSWORD)).headers["retry-after"]) <= 60


async def test_throttling_is_shared_by_every_process(make_client: AppFactory, make_user: UserFactory) -> None:
    """Two app instances (as two workers or replicas) on one database see the same failures."""
    first = await make_client(LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=2)
    second = await make_client(LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=2)
    user = await make_user("shared@example.com")
    assert_problem(await login(first, user.email, "wrong-password"), 401)
    assert_problem(await login(second, user.email, "wrong-password"), 401)
    assert_problem(await login(first, user.email, PASSWORD), 429)


async def test_a_successful_login_clears_the_account_failures(make_client: AppFactory, make_user: UserFactory) -> None:
    client = await make_client(LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT=2)
    user = await make_user("forgetful@example.com")
    assert_problem(await login(client, user.email, "wrong-password"), 401)
    assert (await login(client, user.email, PASSWORD)).status_code == 200
    assert_problem(await login(client, user.email, "wrong-password"), 401)
    assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_the_tables_hold_no_email_or_address(client: httpx.AsyncClient, on: On) -> None:
    for _ in range(5):
        assert_problem(await login(on(client)(STRANGER), "Secret.Person@example.com", "wrong-password"), 401)
    async with database_of(client).session() as session:
        keys = list((await session.exec(select(LoginFailure.key))).all())
        keys += list((await session.exec(select(LoginLockout.key))).all())
    assert len(keys) == 5 * 3 + 1  # three counters per failure; the address and account pair locked out
    assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in keys)
