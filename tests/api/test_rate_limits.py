"""Login and register are rate limited per email and per client address, in Redis: 429 too_many_attempts
with Retry-After, across app instances, exact under concurrency, and open again when the window ends.
Register and login share the counts: the sign-up of an account is its email's first attempt."""

from __future__ import annotations

import asyncio
from typing import Any

from quart.typing import TestClientProtocol as Client

from tests.conftest import Backend
from tests.helpers.api import error_code, register

PASSWORD = "correct-horse"


def from_address(address: str) -> dict[str, Any]:
    return {"scope_base": {"client": (address, 40000)}}


async def login(client: Client, email: str, password: str, address: str = "10.0.0.1") -> Any:
    return await client.post("/api/auth/login", json={"email": email, "password": password},
                             **from_address(address))


async def sign_up(client: Client, email: str, address: str = "10.0.0.1") -> Any:
    body = {"name": "Someone", "email": email, "password": PASSWORD, "role": "investor"}
    return await client.post("/api/auth/register", json=body, **from_address(address))


async def test_eleventh_login_for_one_email_is_429_even_with_the_right_password(backend: Backend) -> None:
    app = backend.app(auth_attempts_per_email_max=10)
    async with app.test_app():
        client = app.test_client()
        user = await register(client, "investor")
        for _ in range(9):
            assert (await login(client, user.email, "wrong-password")).status_code == 401
        refused = await login(client, user.email, PASSWORD)
        assert refused.status_code == 429
        assert await error_code(refused) == "too_many_attempts"
        assert 1 <= int(refused.headers["Retry-After"]) <= 300
        # the email is capped, not the address: another account from the same address still signs in
        other = await register(client, "investor")
        assert (await login(client, other.email, PASSWORD)).status_code == 200


async def test_login_email_is_counted_case_and_space_insensitively(backend: Backend) -> None:
    app = backend.app(auth_attempts_per_email_max=3)
    async with app.test_app():
        client = app.test_client()
        user = await register(client, "investor")
        assert (await login(client, user.email.upper(), "wrong-password")).status_code == 401
        assert (await login(client, f"  {user.email} ", "wrong-password")).status_code == 401
        assert (await login(client, user.email, PASSWORD)).status_code == 429


async def test_sign_ups_from_one_address_are_capped_and_other_addresses_are_not(backend: Backend) -> None:
    app = backend.app(auth_attempts_per_address_max=3)
    async with app.test_app():
        client = app.test_client()
        for n in range(3):
            assert (await sign_up(client, f"a{n}@example.com", "10.0.0.7")).status_code == 201
        refused = await sign_up(client, "a3@example.com", "10.0.0.7")
        assert refused.status_code == 429
        assert await error_code(refused) == "too_many_attempts"
        assert int(refused.headers["Retry-After"]) >= 1
        # logins from that address are capped too; another address is not
        assert (await login(client, "a0@example.com", PASSWORD, "10.0.0.7")).status_code == 429
        assert (await sign_up(client, "a3@example.com", "10.0.0.8")).status_code == 201


async def test_registering_one_email_again_and_again_is_capped(backend: Backend) -> None:
    app = backend.app(auth_attempts_per_email_max=3)
    async with app.test_app():
        client = app.test_client()
        assert (await sign_up(client, "twice@example.com", "10.0.1.1")).status_code == 201
        assert (await sign_up(client, "twice@example.com", "10.0.1.2")).status_code == 409
        assert (await sign_up(client, "twice@example.com", "10.0.1.3")).status_code == 409
        assert (await sign_up(client, "twice@example.com", "10.0.1.4")).status_code == 429


async def test_the_cap_holds_across_app_instances_sharing_redis(backend: Backend) -> None:
    """Two workers (or hosts) see one count: it lives in Redis, not in the process."""
    first, second = backend.app(auth_attempts_per_email_max=5), backend.app(auth_attempts_per_email_max=5)
    async with first.test_app(), second.test_app():
        one, two = first.test_client(), second.test_client()
        user = await register(one, "investor")
        assert (await login(one, user.email, "wrong-password")).status_code == 401
        assert (await login(two, user.email, "wrong-password")).status_code == 401
        assert (await login(one, user.email, "wrong-password")).status_code == 401
        assert (await login(two, user.email, "wrong-password")).status_code == 401
        assert (await login(one, user.email, PASSWORD)).status_code == 429
        assert (await login(two, user.email, PASSWORD)).status_code == 429


async def test_the_window_ends_and_attempts_are_allowed_again(backend: Backend) -> None:
    app = backend.app(auth_attempts_per_email_max=2, auth_attempt_window_seconds=1)
    async with app.test_app():
        client = app.test_client()
        user = await register(client, "investor")
        assert (await login(client, user.email, "wrong-password")).status_code == 401
        refused = await login(client, user.email, PASSWORD)
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "1"
        await asyncio.sleep(1.1)
        assert (await login(client, user.email, PASSWORD)).status_code == 200


async def test_a_cap_of_zero_counts_nothing(backend: Backend) -> None:
    app = backend.app(auth_attempts_per_email_max=0, auth_attempts_per_address_max=0)
    async with app.test_app():
        client = app.test_client()
        user = await register(client, "investor")
        for _ in range(30):
            assert (await login(client, user.email, "wrong-password")).status_code == 401
        assert await app.extensions["market"].redis.keys("*auth-attempts*") == []


async def test_concurrent_guesses_get_exactly_the_cap_of_answers(real_backend: Backend) -> None:
    """50 guesses at once: exactly 10 are checked (401), 40 are refused (429); the count is atomic."""
    app = real_backend.app(auth_attempts_per_email_max=11)
    async with app.test_app():
        client = app.test_client()
        user = await register(client, "investor")
        responses = await asyncio.gather(*(login(client, user.email, "wrong-password") for _ in range(50)))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [401] * 10 + [429] * 40


def test_the_caps_come_from_the_environment() -> None:
    from finance.settings import Settings

    settings = Settings.from_env({"AUTH_ATTEMPT_WINDOW_SECONDS": "60", "AUTH_ATTEMPTS_PER_EMAIL_MAX": "3",
                                  "AUTH_ATTEMPTS_PER_ADDRESS_MAX": "0"})
    assert (settings.auth_attempt_window_seconds, settings.auth_attempts_per_email_max,
            settings.auth_attempts_per_address_max) == (60, 3, 0)
    assert (Settings.from_env({}).auth_attempts_per_email_max, Settings.from_env({}).auth_attempts_per_address_max) \
        == (10, 100)
