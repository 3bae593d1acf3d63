"""Fixtures for the web app's tests in a real headless Chromium (Debian's ``chromium``, driven by the
``playwright`` package): a redis-server and ``python app.py`` of this module's own, one browser for
the run. A missing browser is a failure, never a skip: the README's test command installs it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from tests.helpers.redis_process import RedisProcess
from tests.helpers.web import CHROMIUM_ARGS, WebServer

CHROMIUM = "/usr/bin/chromium"
# what a person would wait for a screen to update, on a machine busy with the rest of the suite
expect.set_options(timeout=15_000)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        pytest.fail("chromium is not installed: run the README's test command (scripts/test.sh), which installs it")
    launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield launched
    launched.close()


@pytest.fixture(scope="module")
def web_redis() -> Iterator[RedisProcess]:
    server = RedisProcess()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def server(web_redis: RedisProcess) -> Iterator[WebServer]:
    """The app on its own redis-server, for every test of a module (each test signs up its own users)."""
    running = WebServer(web_redis.url)
    running.start()
    yield running
    running.close()
