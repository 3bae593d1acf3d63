"""The marketplace table under a burst of live listings: it keeps at most 300 rows (the oldest leave),
and "Load more" continues from where the table now ends, so every listed invoice is shown exactly once,
in the API's order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Browser, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.helpers.web import RUPEE, WebServer, go_to, hold_requests, signed_in, wait_routed

ROWS_MAX = 300  # web/js/views/market.js


def shown_numbers(page) -> list[str]:  # type: ignore[no-untyped-def]
    return page.locator("table.market tbody tr th[scope=row]").evaluate_all(
        "cells => cells.map(cell => cell.firstChild.textContent)")


def wait_shown(page, numbers: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Waits until the table shows exactly ``numbers``, in order; says what it shows if it never does."""
    try:
        page.wait_for_function(
            "wanted => [...document.querySelectorAll('table.market tbody tr th[scope=row]')]"
            ".map(cell => cell.firstChild.textContent).join('|') === wanted", arg="|".join(numbers))
    except PlaywrightTimeoutError:
        assert shown_numbers(page) == numbers
        raise


def test_a_burst_trims_the_table_and_load_more_continues_without_gap_or_repeat(browser: Browser,
                                                                                server: WebServer) -> None:
    seller = server.sign_up("seller", "Paging Seller")
    buyer = server.sign_up("buyer", "Paging Buyer")
    investor = server.sign_up("investor", "Paging Investor")

    def create(n: int) -> None:
        server.create_invoice(seller, buyer, f"P-{n:04d}", (1_000 + n) * RUPEE, 900 * RUPEE, days=10 + n % 50)

    for n in range(40):
        create(n)
    tab = signed_in(browser, server, investor)
    page = tab.page
    expect(page.locator("table.market tbody tr")).to_have_count(40)
    more = page.get_by_role("button", name="Load more")
    expect(more).to_be_hidden()

    with ThreadPoolExecutor(8) as pool:  # a burst of 300 listings while the page watches
        list(pool.map(create, range(40, 340)))
    expect(page.locator("table.market tbody tr")).to_have_count(ROWS_MAX)
    expect(more).to_be_visible()
    expected = [invoice["invoiceNumber"] for invoice in all_listed(server, investor.token)]
    assert len(expected) == 340
    # the table holds 300 rows from the 260th event on, and draws once per animation frame: wait for the last
    wait_shown(page, expected[:ROWS_MAX])  # the newest 300, in the API's order

    more.click()
    expect(page.locator("table.market tbody tr")).to_have_count(340)
    assert shown_numbers(page) == expected
    expect(more).to_be_hidden()
    tab.assert_no_console_errors()
    tab.context.close()


def all_listed(server: WebServer, token: str) -> list[dict[str, object]]:
    found: list[dict[str, object]] = []
    cursor = ""
    while True:
        page = server.api("GET", f"/api/invoices/marketplace?limit=100{'&cursor=' + cursor if cursor else ''}", token)
        found += page["invoices"]
        if not page["nextCursor"]:
            return found
        cursor = page["nextCursor"]


def test_a_live_update_keeps_the_pages_load_more_added(browser: Browser, server: WebServer) -> None:
    """The wallet's transactions (the same holds for the portfolio, the buyer's and the seller's lists,
    web/js/dom.js pagedList): a live event reloads as many as are shown, not the first page only (it
    dropped back to 20); what a newcomer pushes off the end is behind Load more again."""
    investor = server.sign_up("investor", "Paging Wallet")
    for n in range(25):
        server.deposit(investor, (100 + n) * RUPEE)
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Wallet")
    table_rows = page.get_by_role("table", name="Wallet transactions, newest first").locator("tbody tr")
    expect(table_rows).to_have_count(20)
    page.get_by_role("button", name="Load more").click()
    expect(table_rows).to_have_count(25)
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    server.deposit(investor, 7 * RUPEE)  # from elsewhere: arrives as walletUpdated
    expect(table_rows.first).to_contain_text("₹7.00")
    expect(table_rows).to_have_count(25)
    expect(table_rows.last).to_contain_text("₹101.00")  # from the page Load more added
    page.get_by_role("button", name="Load more").click()
    expect(table_rows).to_have_count(26)
    expect(table_rows.last).to_contain_text("₹100.00")  # the oldest, once, after the rest
    expect(page.get_by_role("button", name="Load more")).to_be_hidden()
    tab.assert_no_console_errors()
    tab.context.close()


def test_a_page_loaded_while_a_refresh_is_in_flight_is_not_appended_after_it(browser: Browser,
                                                                             server: WebServer) -> None:
    """Load more is clicked, an event refreshes the list while that page is still on its way, and the
    refresh answers first: the late page was read from a cursor the refresh replaced, so it is dropped
    (it would repeat the row the newcomer pushed down and leave the list out of order)."""
    investor = server.sign_up("investor", "Paging Race")
    for n in range(25):
        server.deposit(investor, (100 + n) * RUPEE)
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Wallet")
    table_rows = page.get_by_role("table", name="Wallet transactions, newest first").locator("tbody tr")
    expect(table_rows).to_have_count(20)
    held = hold_requests(page, "**/api/wallet/transactions?*before=*")  # Load more's page, not a refresh
    page.get_by_role("button", name="Load more").click()
    wait_routed(page, held, 1)
    server.deposit(investor, 7 * RUPEE)  # from elsewhere: its event refreshes the list meanwhile
    expect(table_rows.first).to_contain_text("₹7.00")
    with page.expect_response("**/api/wallet/transactions?*before=*"):
        held[0].continue_()
    page.unroute("**/api/wallet/transactions?*before=*")
    expect(page.get_by_role("button", name="Load more")).to_be_enabled()  # its answer handled
    amounts = table_rows.locator("td.num").evaluate_all("cells => cells.map(cell => cell.textContent)")
    assert amounts[::2] == ["+₹7.00", *(f"+₹{100 + n}.00" for n in range(24, 5, -1))]  # 20, in order, once
    page.get_by_role("button", name="Load more").click()  # the rest, from where the list now ends
    expect(table_rows).to_have_count(26)
    expect(table_rows.last).to_contain_text("₹100.00")
    tab.assert_no_console_errors()
    tab.context.close()


def test_a_repay_amount_typed_on_a_page_load_more_added_survives_a_live_refresh(browser: Browser,
                                                                               server: WebServer) -> None:
    """The buyer's list keys every row it shows, those of appended pages too: an event that refreshes the
    list rebuilds only the rows whose invoice changed, so what the buyer is typing stays."""
    seller = server.sign_up("seller", "Paging Seller B")
    buyer = server.sign_up("buyer", "Paging Buyer B")
    investor = server.sign_up("investor", "Paging Investor B")
    server.deposit(investor, 60 * 1_000 * RUPEE)
    oldest = server.create_invoice(seller, buyer, "PB-OLDEST", 1_000 * RUPEE, 900 * RUPEE)
    server.api("POST", f"/api/invoices/{oldest['id']}/fund", investor.token, {"amount": 900 * RUPEE})
    for n in range(50):  # a first page (50) of newer invoices pushes the funded one to the second
        server.create_invoice(seller, buyer, f"PB-{n:03d}", 1_000 * RUPEE, 900 * RUPEE)
    tab = signed_in(browser, server, buyer)
    page = tab.page
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="PB-OLDEST", exact=True))
    expect(row).to_have_count(0)
    page.get_by_role("button", name="Load more").click()
    amount = row.get_by_label("Amount to repay on PB-OLDEST (₹)")
    amount.fill("250.50")
    # an investor funds an invoice of the first page: its invoiceUpdated refreshes the list
    newest = server.api("GET", "/api/invoices/buyer?limit=1", buyer.token)["invoices"][0]
    server.api("POST", f"/api/invoices/{newest['id']}/fund", investor.token, {"amount": 900 * RUPEE})
    newest_row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=newest["invoiceNumber"],
                                                                      exact=True))
    # the refresh has drawn it ("Not funded yet" also says "funded": wait for its Repay button)
    expect(newest_row.get_by_role("button", name=f"Repay {newest['invoiceNumber']}", exact=True)).to_be_visible()
    expect(amount).to_have_value("250.50")
    tab.assert_no_console_errors()
    tab.context.close()
