"""Fixtures: every app test runs on fakeredis and on a real redis-server the tests start themselves."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from quart import Quart
from quart.typing import TestClientProtocol as Client

from app import create_app
from finance.clock import Clock
from finance.market import Market
from finance.settings import Settings
from tests.helpers.redis_process import RedisProcess

# the session's local Redis Cluster fixture (``redis_cluster``), for the cluster tests
pytest_plugins = ["tests.helpers.redis_cluster"]

# fast password hashing, no background aging, and no cap on sign-ups per client address (every test
# client is one address); everything else as in production
TEST_SETTINGS = Settings(password_hash_cost=4, aging_interval_seconds=0, auth_attempts_per_address_max=0)


# every process the tests start inherits this variable, workers and grandchildren included, so the run
# can find what it left behind even after a process was re-parented
RUN_MARK = "INVOICE_FINANCE_TEST_RUN"


def pytest_configure(config: pytest.Config) -> None:
    os.environ[RUN_MARK] = str(os.getpid())


def processes_of_this_run() -> list[tuple[int, str]]:
    mark = f"{RUN_MARK}={os.getpid()}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        pid = int(entry.name)
        if pid == os.getpid():
            continue
        try:
            if mark not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        found.append((pid, command.strip()))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite leaves no process behind: anything this run started and still running is a failure
    (after a short grace for processes that are exiting), and is killed."""
    deadline = time.monotonic() + 3
    while (left := processes_of_this_run()) and time.monotonic() < deadline:
        time.sleep(0.1)
    if not left:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"the test run left {len(left)} process(es) running:"] + [f"  {pid} {cmd}" for pid, cmd in left]
    if reporter is not None:
        reporter.ensure_newline()
        reporter.write_line("\n".join(lines), red=True)
    for pid, _ in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    yield server
    server.close()


class Backend:
    """Where a test's data lives: ``fakeredis`` (in-process) or ``redis`` (a real server)."""

    def __init__(self, name: str, server: RedisProcess | None) -> None:
        self.name = name
        self.server = server
        self.fake_server = fakeredis.FakeServer() if server is None else None

    def settings(self, **overrides: Any) -> Settings:
        base = TEST_SETTINGS if self.server is None else replace(TEST_SETTINGS, redis_url=self.server.url)
        return replace(base, **overrides)

    def app(self, clock: Clock | None = None, **overrides: Any) -> Quart:
        return create_app(self.settings(**overrides), redis_server=self.fake_server, clock=clock)

    def flush(self) -> None:
        if self.server is not None:
            client = redis.Redis(port=self.server.port)
            client.flushall()
            client.close()


@pytest.fixture(params=["fakeredis", pytest.param("redis", marks=pytest.mark.real_redis)])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    if request.param == "fakeredis":
        yield Backend("fakeredis", None)
        return
    server: RedisProcess = request.getfixturevalue("redis_server")
    chosen = Backend("redis", server)
    chosen.flush()
    yield chosen


@pytest.fixture
def real_backend(redis_server: RedisProcess) -> Iterator[Backend]:
    """Only the real server: races, blocking reads, restarts."""
    chosen = Backend("redis", redis_server)
    chosen.flush()
    yield chosen


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def app(backend: Backend, clock: Clock) -> AsyncIterator[Quart]:
    """The app, started (its lifespan running) for the test's duration."""
    application = backend.app(clock)
    async with application.test_app():
        yield application


@pytest.fixture
def client(app: Quart) -> Client:
    return app.test_client()


@pytest.fixture
def market(app: Quart) -> Market:
    found: Market = app.extensions["market"]
    return found
