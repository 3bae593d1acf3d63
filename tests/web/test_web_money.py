"""Money in the browser (web/js/money.js, run in Chromium): typed rupees parsed to exact integer paise,
paise shown with en-IN grouping, the exact claim price; and the page's guards: data shown as text, a
retried money click that reuses its Idempotency-Key."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.helpers.web import RUPEE, LostFirstAnswer, WebServer, go_to, hold_requests, open_tab, signed_in, wait_routed


@pytest.fixture(scope="module")
def money_page(browser: Browser, server: WebServer) -> Any:
    tab = open_tab(browser, server)
    tab.page.goto("/")
    yield tab.page
    tab.assert_no_console_errors()
    tab.context.close()


def run(page: Page, expression: str, *args: Any) -> Any:
    """``expression`` is a function of the money module and the arguments, evaluated in the page."""
    return page.evaluate(
        f"async (args) => {{ const m = await import('/app/js/money.js'); return ({expression})(m, ...args); }}",
        list(args))


PARSED = [
    ("0.01", 1),
    ("0.1", 10),
    ("1", 100),
    ("1.", 100),
    ("1,00,000.50", 10_000_050),
    ("100,000.50", 10_000_050),  # international grouping is read too
    ("₹1,00,000", 10_000_000),
    ("Rs. 2,50,000.05", 25_000_005),
    ("  12,34,56,789.99 ", 123_456_789_99),
    ("1,00,00,00,00,00,000", 10**15),  # 10^13 rupees (a crore crore): the ceiling, 10^15 paise
    ("10,00,00,00,00,000", 10**14),
    ("9999999999999.99", 10**15 - 1),
    ("90071992547409.91", None),  # above the ceiling (and above 2^53 paise): refused, never rounded
]
REFUSED = ["", "   ", "abc", "0", "0.00", "-5", "1.234", "1,0,0", "1,00,0000", "1e5", "12,3456", "1.5.0", "₹",
           "1,00,00,00,00,00,000.01", "Infinity", "NaN", "0x10", "１００"]


@pytest.mark.parametrize(("typed", "paise"), PARSED)
def test_typed_rupees_become_exact_paise(money_page: Page, typed: str, paise: int | None) -> None:
    result = run(money_page,
                 "(m, t) => { try { return m.parseRupees(t); } catch (e) { return 'refused: ' + e.message; } }", typed)
    if paise is None:
        assert str(result).startswith("refused: The amount must be at most ₹1,00,00,00,00,00,000.00"), result
    else:
        assert result == paise


@pytest.mark.parametrize("typed", REFUSED)
def test_junk_is_refused_with_a_message(money_page: Page, typed: str) -> None:
    result = run(money_page, "(m, t) => { try { return m.parseRupees(t); } catch (e) { return ["
                             "e instanceof m.AmountError, e.message]; } }", typed)
    assert isinstance(result, list) and result[0] is True, (typed, result)
    assert result[1], typed


@pytest.mark.parametrize(("paise", "shown"), [
    (0, "₹0.00"), (1, "₹0.01"), (10, "₹0.10"), (99, "₹0.99"), (100, "₹1.00"), (10_000_050, "₹1,00,000.50"),
    (123_456_789_99, "₹12,34,56,789.99"), (10**15, "₹1,00,00,00,00,00,000.00"), (10**15 - 1, "₹99,99,99,99,99,999.99"),
    (-250, "-₹2.50"),
])
def test_paise_are_shown_with_indian_grouping(money_page: Page, paise: int, shown: str) -> None:
    assert run(money_page, "(m, p) => m.formatPaise(p)", paise) == shown


def test_a_claims_price_is_the_servers_cumulative_rounding(money_page: Page) -> None:
    cases = [(0, 1, 1, 3), (1, 1, 1, 3), (2, 1, 1, 3), (0, 333, 999_999, 1_000_000),
             (123_456_789, 10**14, 9 * 10**14 + 7, 10**15), (10**15 - 10**14, 10**14, 999_999_999_999_999, 10**15)]
    for sold, claim, ask, face in cases:
        expected = (sold + claim) * ask // face - sold * ask // face
        assert run(money_page, "(m, s, c, a, f) => m.claimPrice(s, c, a, f)", sold, claim, ask, face) == expected


def test_an_invoice_field_holding_html_shows_literally_and_runs_nothing(browser: Browser, server: WebServer) -> None:
    seller = server.sign_up("seller", "<b>Mallory</b>", company="<script>window.__pwned = 1</script>")
    buyer = server.sign_up("buyer", "Buyer", company="<img src=x onerror=window.__pwned=2>")
    investor = server.sign_up("investor", "Ivy")
    number = "<img src=x onerror=window.__pwned=3>"
    server.create_invoice(seller, buyer, number, 1_000 * RUPEE, 900 * RUPEE,
                          description="<iframe src=javascript:window.__pwned=4></iframe>")
    tab = signed_in(browser, server, investor)
    page = tab.page
    row = page.get_by_role("row").filter(has_text=number)
    expect(row).to_contain_text("<script>window.__pwned = 1</script>")
    expect(row).to_contain_text("<img src=x onerror=window.__pwned=2>")
    page.get_by_role("button", name=f"Invest in {number}").click()
    panel = page.get_by_role("region", name=f"Invest in {number}")
    expect(panel).to_contain_text("<iframe src=javascript:window.__pwned=4></iframe>")
    assert page.locator("main img, main script, main iframe").count() == 0
    assert page.evaluate("window.__pwned") is None
    seller_tab = signed_in(browser, server, seller)
    expect(seller_tab.page.get_by_role("row").filter(has_text=number)).to_be_visible()
    assert seller_tab.page.evaluate("window.__pwned") is None
    # the page itself refuses inline script, whatever a view might do
    csp = server.api_headers("/")["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    tab.assert_no_console_errors()
    seller_tab.assert_no_console_errors()
    tab.context.close()
    seller_tab.context.close()


def test_an_answer_that_comes_late_does_not_erase_the_next_amount_typed(browser: Browser, server: WebServer) -> None:
    investor = server.sign_up("investor", "Late")
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Wallet")
    held = hold_requests(page, "**/api/wallet/deposit")
    form = page.get_by_role("form", name="Deposit")
    amount = form.get_by_label("Amount to deposit (₹)")
    amount.fill("500")
    form.get_by_role("button", name="Deposit").click()
    expect(form.get_by_role("button", name="Deposit")).to_be_disabled()  # in flight
    amount.fill("7.25")  # the person types the next amount while the first is on its way
    wait_routed(page, held, 1)
    answer = held[0].fetch()
    held[0].fulfill(response=answer)
    expect(page.locator(".top .balance")).to_have_text("₹500.00")
    expect(form.get_by_role("button", name="Deposit")).to_be_enabled()
    expect(amount).to_have_value("7.25")  # not erased by the first deposit's answer
    page.unroute("**/api/wallet/deposit")
    form.get_by_role("button", name="Deposit").click()
    expect(page.locator(".top .balance")).to_have_text("₹507.25")
    assert server.balance(investor) == 507_25
    expect(amount).to_have_value("")  # its own answer clears it
    tab.assert_no_console_errors()
    tab.context.close()


def test_a_retried_deposit_reuses_its_idempotency_key_and_moves_money_once(browser: Browser, server: WebServer) -> None:
    investor = server.sign_up("investor", "Retry")
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Wallet")
    lost = LostFirstAnswer()
    page.route("**/api/wallet/deposit", lost)
    form = page.get_by_role("form", name="Deposit")
    form.get_by_label("Amount to deposit (₹)").fill("1,000.50")
    button = form.get_by_role("button", name="Deposit")
    button.click()
    expect(form.get_by_role("alert")).to_contain_text("The server cannot be reached")
    expect(button).to_be_enabled()
    with page.expect_response("**/api/wallet/deposit"):  # the balance may show the deposit's event before
        button.click()  # the person tries again
    expect(page.locator(".top .balance")).to_have_text("₹1,000.50")
    assert len(lost.keys) == 2 and lost.keys[0] == lost.keys[1]
    assert lost.statuses[0] == 200  # the first deposit was made; only its answer was lost
    assert server.balance(investor) == 1_000_50
    transactions = server.api("GET", "/api/wallet/transactions", investor.token)["transactions"]
    assert [(t["type"], t["amount"]) for t in transactions] == [("credit", 1_000_50)]
    # a new deposit after a success is a new request with a new key
    form.get_by_label("Amount to deposit (₹)").fill("1,000.50")
    button.click()
    expect(page.locator(".top .balance")).to_have_text("₹2,001.00")
    assert len(lost.keys) == 3 and lost.keys[2] != lost.keys[0]
    # both deposits are listed, newest first, each once, with the balance after it
    rows = page.get_by_role("table", name="Wallet transactions, newest first").get_by_role("row")
    expect(rows).to_have_count(3)  # the heading and two deposits
    expect(rows.nth(1)).to_contain_text("+₹1,000.50")
    expect(rows.nth(1)).to_contain_text("₹2,001.00")
    expect(rows.nth(2)).to_contain_text("₹1,000.50")
    tab.assert_no_console_errors(allowed=("net::ERR_CONNECTION_RESET", "Failed to fetch"))
    tab.context.close()


def test_a_money_button_is_disabled_while_its_request_is_in_flight(browser: Browser, server: WebServer) -> None:
    investor = server.sign_up("investor", "Waiting")
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Wallet")
    held = hold_requests(page, "**/api/wallet/deposit")
    form = page.get_by_role("form", name="Deposit")
    form.get_by_label("Amount to deposit (₹)").fill("500")
    button = form.get_by_role("button", name="Deposit")
    button.click()
    expect(button).to_be_disabled()
    wait_routed(page, held, 1)
    button.click(force=True)  # a second click while it waits sends nothing
    page.wait_for_timeout(200)
    assert len(held) == 1
    held[0].continue_()
    expect(button).to_be_enabled()
    expect(page.locator(".top .balance")).to_have_text("₹500.00")
    assert server.balance(investor) == 500 * RUPEE
    tab.assert_no_console_errors()
    tab.context.close()


def test_an_api_refusal_is_shown_beside_its_control_with_the_apis_message(browser: Browser, server: WebServer) -> None:
    investor = server.sign_up("investor", "Short")
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Wallet")
    form = page.get_by_role("form", name="Withdraw")
    form.get_by_label("Amount to withdraw (₹)").fill("10")
    form.get_by_role("button", name="Withdraw").click()
    message = server.api_error("POST", "/api/wallet/withdraw", investor.token, {"amount": 1_000})
    expect(form.get_by_role("alert")).to_have_text(message)
    form.get_by_label("Amount to withdraw (₹)").fill("ten rupees")
    form.get_by_role("button", name="Withdraw").click()
    expect(form.get_by_role("alert")).to_contain_text("Not an amount")
    # after a success too, a typing error shows
    deposit = page.get_by_role("form", name="Deposit")
    deposit.get_by_label("Amount to deposit (₹)").fill("10")
    deposit.get_by_role("button", name="Deposit").click()
    expect(page.locator(".top .balance")).to_have_text("₹10.00")
    deposit.get_by_label("Amount to deposit (₹)").fill("abc")
    deposit.get_by_role("button", name="Deposit").click()
    expect(deposit.get_by_role("alert")).to_be_visible()
    expect(deposit.get_by_role("alert")).to_contain_text("Not an amount")
    tab.assert_no_console_errors(allowed=("409",))
    tab.context.close()


def test_mark_all_read_leaves_what_arrived_while_it_was_in_flight_unread(browser: Browser,
                                                                        server: WebServer) -> None:
    """Mark all read marks up to the newest notification shown when it was clicked: one that arrives
    while the request is on its way stays unread, on the bell as on the server."""
    investor = server.sign_up("investor", "Bell Race")
    server.deposit(investor, 100 * RUPEE)
    tab = signed_in(browser, server, investor)
    page = tab.page
    bell = page.get_by_role("button", name=re.compile(r"Notifications"))
    expect(bell.locator(".count")).to_have_text("1")
    bell.click()
    held = hold_requests(page, "**/api/users/notifications/read")
    page.get_by_role("region", name="Notifications").get_by_role("button", name="Mark all read").click()
    wait_routed(page, held, 1)
    server.deposit(investor, 5 * RUPEE)  # arrives while the mark is on its way
    expect(bell.locator(".count")).to_have_text("2")
    with page.expect_response("**/api/users/notifications/read"):
        held[0].continue_()
    expect(bell.locator(".count")).to_have_text("1")  # the newcomer
    assert server.api("GET", "/api/users/notifications", investor.token)["unread"] == 1
    tab.assert_no_console_errors()
    tab.context.close()
