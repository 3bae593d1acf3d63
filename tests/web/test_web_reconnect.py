"""The page under a server restart: the connection indicator says so, the page reconnects by itself
with since/marketSince and gets what it missed exactly once; when what it missed was trimmed
(recovered=false) it reloads its state over REST. Never a page reload."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from finance.keys import Keys
from tests.helpers.redis_process import RedisProcess
from tests.helpers.web import RUPEE, WebServer, signed_in

# what a page may log while its server is away: the refused WebSocket handshakes
WHILE_AWAY = ("WebSocket connection to", "ERR_CONNECTION_REFUSED", "503")


@pytest.fixture
def two_servers(web_redis: RedisProcess) -> Iterator[tuple[WebServer, WebServer]]:
    """Two app processes on one Redis: the page's, which restarts, and another that keeps committing."""
    servers = (WebServer(web_redis.url), WebServer(web_redis.url))
    for each in servers:
        each.start()
    yield servers
    for each in servers:
        each.close()


def rows_of(page: Page, number: str) -> int:
    return page.get_by_role("row").filter(has_text=number).count()


def test_a_restart_under_an_open_page_resumes_and_delivers_what_was_missed_once(
        browser: Browser, two_servers: tuple[WebServer, WebServer]) -> None:
    page_server, other = two_servers
    seller = other.sign_up("seller", "Restart Seller")
    buyer = other.sign_up("buyer", "Restart Buyer")
    investor = other.sign_up("investor", "Restart Investor")
    tab = signed_in(browser, page_server, investor)
    page = tab.page
    page.evaluate("window.__notReloaded = true")
    other.create_invoice(seller, buyer, "RS-BEFORE", 1_000 * RUPEE, 900 * RUPEE)
    expect(page.get_by_role("row").filter(has_text="RS-BEFORE")).to_be_visible()

    page_server.stop(signal.SIGTERM)
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    # committed while the page has no connection: only a resume from marketSince / since can bring them
    other.create_invoice(seller, buyer, "RS-MISSED-1", 2_000 * RUPEE, 1_800 * RUPEE)
    other.create_invoice(seller, buyer, "RS-MISSED-2", 3_000 * RUPEE, 2_700 * RUPEE)
    other.deposit(investor, 5_000 * RUPEE)
    page_server.start()

    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=15_000)
    expect(page.get_by_role("row").filter(has_text="RS-MISSED-2")).to_be_visible()
    expect(page.locator(".top .balance")).to_have_text("₹5,000.00")
    other.create_invoice(seller, buyer, "RS-AFTER", 4_000 * RUPEE, 3_600 * RUPEE)
    expect(page.get_by_role("row").filter(has_text="RS-AFTER")).to_be_visible()
    assert [rows_of(page, n) for n in ("RS-BEFORE", "RS-MISSED-1", "RS-MISSED-2", "RS-AFTER")] == [1, 1, 1, 1]
    # the missed listings were replayed as events: they arrive marked new, as live ones do
    expect(page.get_by_role("row").filter(has_text="RS-MISSED-1")).to_contain_text("New")
    assert page.evaluate("window.__notReloaded") is True
    tab.assert_no_console_errors(allowed=WHILE_AWAY)
    tab.context.close()


def test_when_what_was_missed_was_trimmed_the_page_reloads_its_state_over_rest(
        browser: Browser, two_servers: tuple[WebServer, WebServer], web_redis: RedisProcess) -> None:
    page_server, other = two_servers
    seller = other.sign_up("seller", "Trim Seller")
    buyer = other.sign_up("buyer", "Trim Buyer")
    investor = other.sign_up("investor", "Trim Investor")
    tab = signed_in(browser, page_server, investor)
    page = tab.page
    page.evaluate("window.__notReloaded = true")
    other.create_invoice(seller, buyer, "TR-BEFORE", 1_000 * RUPEE, 900 * RUPEE)
    expect(page.get_by_role("row").filter(has_text="TR-BEFORE")).to_be_visible()

    page_server.stop(signal.SIGTERM)
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()
    other.create_invoice(seller, buyer, "TR-TRIMMED", 2_000 * RUPEE, 1_800 * RUPEE)
    other.create_invoice(seller, buyer, "TR-KEPT", 3_000 * RUPEE, 2_700 * RUPEE)
    client = redis.Redis(port=web_redis.port)
    client.xtrim(Keys().market_stream(), maxlen=1, approximate=False)  # only TR-KEPT's event is left
    client.close()
    page_server.start()

    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=15_000)
    # TR-TRIMMED's event is gone: only the REST reload after recovered=false can show it
    expect(page.get_by_role("row").filter(has_text="TR-TRIMMED")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="TR-KEPT")).to_be_visible()
    assert [rows_of(page, n) for n in ("TR-BEFORE", "TR-TRIMMED", "TR-KEPT")] == [1, 1, 1]
    assert page.evaluate("window.__notReloaded") is True
    tab.assert_no_console_errors(allowed=WHILE_AWAY)
    tab.context.close()
