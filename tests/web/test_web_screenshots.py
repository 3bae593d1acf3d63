"""Each role's main page on the demo data, at 1440 and 390 px wide: saved under build/screenshots
(scripts/screenshots.sh copies them to docs/screenshots for the README). Each page must fit its width
and show no console error."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.redis_process import RedisProcess
from tests.helpers.servers import ROOT
from tests.helpers.web import SCREENSHOTS, WebServer, open_tab, wait_live

HEADINGS = {"seller": "My invoices", "investor": "Marketplace", "buyer": "Invoices"}


@pytest.fixture(scope="module")
def demo(web_redis: RedisProcess, server: WebServer) -> dict[str, object]:
    seeded = subprocess.run([sys.executable, "-m", "finance", "seed-demo"], cwd=ROOT, capture_output=True, check=True,
                            env={**os.environ, "REDIS_URL": web_redis.url})
    found: dict[str, object] = json.loads(seeded.stdout)
    return found


@pytest.mark.parametrize("width", [1440, 390])
@pytest.mark.parametrize("role", ["seller", "investor", "buyer"])
def test_each_roles_main_page_fits_and_is_saved(browser: Browser, server: WebServer, demo: dict[str, object],
                                               role: str, width: int) -> None:
    users = demo["users"]
    assert isinstance(users, dict)
    tab = open_tab(browser, server, width=width, height=900 if width > 500 else 844)
    page = tab.page
    page.goto("/")
    page.get_by_label("Email", exact=True).fill(users[role][0])
    page.get_by_label("Password", exact=True).fill(str(demo["password"]))
    page.get_by_role("button", name="Sign in").click()
    wait_live(page)
    expect(page.get_by_role("heading", name=HEADINGS[role], exact=True)).to_be_visible()
    expect(page.get_by_role("row").nth(2)).to_be_visible()  # the demo data is on screen
    page.wait_for_timeout(300)  # let the arrival highlight fade in the picture
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{role}-{width}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    tab.assert_no_console_errors()
    tab.context.close()
