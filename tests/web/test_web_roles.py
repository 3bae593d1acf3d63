"""Each role's main flows in the browser, with the screens checked against the API's figures: fractional
claims with live fill progress, auction bids (place, withdraw, accept), partial repayment, exposure limits,
the dashboard's charts, keyboard-only sign-in, and the phone width."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from tests.helpers.web import RUPEE, LostFirstAnswer, User, WebServer, due_in, go_to, open_tab, signed_in


def list_invoice(page: Page, buyer: User, number: str, amount: str, ask: str, days: int = 40,
                 ticket: str | None = None, deadline_days: int | None = None) -> None:
    page.get_by_label("Find buyer").fill(buyer.display)
    expect(page.get_by_label("Buyer", exact=True)).to_have_value(buyer.id)
    page.get_by_label("Invoice number").fill(number)
    page.get_by_label("Face value (₹)").fill(amount)
    page.get_by_label("Ask (₹)").fill(ask)
    page.get_by_label("Due date").fill(due_in(days))
    if ticket is not None:
        page.get_by_label("Fractional: many investors buy claims").check()
        page.get_by_label("Minimum ticket (₹)").fill(ticket)
        if deadline_days is not None:
            page.get_by_label("Funding deadline (optional)").fill(due_in(deadline_days))
    page.get_by_role("button", name="List invoice").click()
    expect(page.get_by_role("row").filter(has_text=number)).to_contain_text("listed")


def parties(server: WebServer, tag: str) -> tuple[User, User, User, User]:
    seller = server.sign_up("seller", f"Seller {tag}", company=f"Seller Co {tag}")
    buyer = server.sign_up("buyer", f"Buyer {tag}", company=f"Buyer Co {tag}")
    first = server.sign_up("investor", f"First {tag}")
    second = server.sign_up("investor", f"Second {tag}")
    for investor in (first, second):
        server.deposit(investor, 10_00_000 * RUPEE)
    return seller, buyer, first, second


def owed(server: WebServer, tag: str, amount: int, price: int) -> tuple[User, User, User, dict[str, Any]]:
    """An invoice of ``amount`` funded whole at ``price``, and its buyer holding ``amount`` to repay it:
    the seller, the buyer, the investor and the invoice."""
    seller, buyer, investor, _ = parties(server, tag)
    invoice = server.create_invoice(seller, buyer, f"{tag}-{seller.id[-6:]}", amount, price)
    server.api("POST", f"/api/invoices/{invoice['id']}/fund", investor.token, {"amount": price})
    server.deposit(buyer, amount)
    return seller, buyer, investor, invoice


def row_of(page: Page, number: str) -> Locator:
    """The table row of invoice ``number``, by its row header (a longer number may contain it)."""
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=number, exact=True))


def test_fractional_claims_fill_live_and_the_last_claim_funds_the_invoice(browser: Browser, server: WebServer) -> None:
    seller, buyer, first, second = parties(server, "FR")
    seller_tab, first_tab, second_tab = (signed_in(browser, server, user) for user in (seller, first, second))
    number = f"FRN-{seller.id[-6:]}"
    list_invoice(seller_tab.page, buyer, number, "3,00,000", "2,90,000", ticket="1,00,000", deadline_days=20)

    page = first_tab.page
    page.get_by_role("button", name=f"Invest in {number}").click()
    panel = page.get_by_role("region", name=f"Invest in {number}")
    claim = panel.get_by_label("Claim (₹ of face value)")
    expect(claim).to_have_value("100000.00")
    claim.fill("1,00,000")
    # floor(10^7 * 29,000,000 / 30,000,000) = 9,666,666 paise: the server's cumulative rounding, exactly
    expect(panel).to_contain_text("You pay ₹96,666.66 now and receive ₹1,00,000.00 at maturity.")
    panel.get_by_role("button", name="Buy claim").click()
    expect(panel.get_by_role("status")).to_contain_text(f"Bought a claim of ₹1,00,000.00 on {number} for ₹96,666.66.")
    expect(page.locator(".top .balance")).to_have_text("₹9,03,333.34")

    # the other investor sees the progress move without reloading
    other_row = second_tab.page.get_by_role("row").filter(has_text=number)
    expect(other_row).to_contain_text("33% sold · ₹2,00,000.00 left")
    second_tab.page.get_by_role("button", name=f"Invest in {number}").click()
    other_panel = second_tab.page.get_by_role("region", name=f"Invest in {number}")
    other_panel.get_by_label("Claim (₹ of face value)").fill("2,00,000")
    expect(other_panel).to_contain_text("You pay ₹1,93,333.34 now")
    other_panel.get_by_role("button", name="Buy claim").click()
    expect(other_panel).to_contain_text("no longer for sale")
    expect(other_row).to_contain_text("funded")

    seller_row = seller_tab.page.get_by_role("row").filter(has_text=number)
    expect(seller_row).to_contain_text("funded")
    expect(seller_tab.page.locator(".top .balance")).to_have_text("₹2,90,000.00")
    assert server.balance(first) + server.balance(second) == 20_00_000 * RUPEE - 2_90_000 * RUPEE
    for tab in (seller_tab, first_tab, second_tab):
        tab.assert_no_console_errors()
        tab.context.close()


def test_bids_are_placed_withdrawn_and_accepted_by_the_seller(browser: Browser, server: WebServer) -> None:
    seller, buyer, first, second = parties(server, "BID")
    number = f"AUC-{seller.id[-6:]}"
    seller_tab, first_tab, second_tab = (signed_in(browser, server, user) for user in (seller, first, second))
    list_invoice(seller_tab.page, buyer, number, "5,00,000", "4,50,000")

    def bid(page: Page, amount: str) -> None:
        page.get_by_role("button", name=f"Invest in {number}").click()
        panel = page.get_by_role("region", name=f"Invest in {number}")
        panel.get_by_label("Bid (₹)").fill(amount)
        panel.get_by_role("button", name="Place bid").click()
        expect(panel.get_by_role("status")).to_contain_text("placed")

    bid(first_tab.page, "4,70,000")
    bid(second_tab.page, "4,80,000")
    expect(first_tab.page.locator(".top .balance")).to_have_text("₹5,30,000.00")  # held for the bid
    # the first investor changes its mind and withdraws
    first_panel = first_tab.page.get_by_role("region", name=f"Invest in {number}")
    expect(first_panel).to_contain_text("Your bid: ₹4,70,000.00")
    first_panel.get_by_role("button", name="Withdraw bid").click()
    expect(first_panel.get_by_role("status")).to_contain_text("Bid withdrawn; ₹4,70,000.00 is back in your wallet.")
    expect(first_tab.page.locator(".top .balance")).to_have_text("₹10,00,000.00")
    expect(first_panel).to_contain_text("You have no bid on this invoice.")

    s = seller_tab.page
    s.get_by_role("button", name=f"Bids on {number}").click()
    bids = s.get_by_role("table", name=f"Bids on {number}, highest first")
    expect(bids.get_by_role("row")).to_have_count(2)  # the heading and the one pending bid
    expect(bids).to_contain_text("₹4,80,000.00")
    s.get_by_role("button", name=re.compile(r"^Accept bid of ₹4,80,000\.00")).click()
    seller_row = row_of(s, number)
    expect(seller_row).to_contain_text("funded")
    expect(s.get_by_role("table", name=f"Bids on {number}, highest first")).to_have_count(0)
    expect(s.locator(".top .balance")).to_have_text("₹4,80,000.00")
    expect(second_tab.page.locator(".top .balance")).to_have_text("₹5,20,000.00")
    portfolio = server.api("GET", "/api/users/portfolio", second.token)
    assert [(i["invoice"]["invoiceNumber"], i["amount"], i["status"]) for i in portfolio["investments"]] == [
        (number, 4_80_000 * RUPEE, "active")]
    for tab in (seller_tab, first_tab, second_tab):
        tab.assert_no_console_errors()
        tab.context.close()


def test_the_buyer_repays_in_part_then_in_full(browser: Browser, server: WebServer) -> None:
    seller, buyer, investor, invoice = owed(server, "REP", 3_00_000 * RUPEE, 2_70_000 * RUPEE)
    number = invoice["invoiceNumber"]
    tab = signed_in(browser, server, buyer)
    page = tab.page
    row = row_of(page, number)
    expect(row).to_contain_text("funded")
    expect(page.locator(".big-figure")).to_have_text("₹3,00,000.00")
    row.get_by_label(f"Amount to repay on {number} (₹)").fill("1,00,000.25")
    # an event that refreshes the list while the amount is typed leaves the typing alone
    other = server.create_invoice(seller, buyer, f"{number}-B", 1_000 * RUPEE, 900 * RUPEE)
    expect(page.get_by_role("row").filter(has_text=other["invoiceNumber"])).to_be_visible()
    expect(row.get_by_label(f"Amount to repay on {number} (₹)")).to_have_value("1,00,000.25")
    row.get_by_role("button", name=f"Repay {number}").click()
    expect(row).to_contain_text("₹1,99,999.75")  # outstanding
    expect(page.locator(".big-figure")).to_have_text("₹2,00,999.75")  # the new invoice is owed too
    expect(page.locator(".top .balance")).to_have_text("₹1,99,999.75")
    # more than is outstanding is refused beside the control, with the API's message
    row.get_by_label(f"Amount to repay on {number} (₹)").fill("2,00,000")
    row.get_by_role("button", name=f"Repay {number}").click()
    expect(row.get_by_role("alert")).to_contain_text("outstanding")
    # an empty amount pays nothing: it asks for one
    row.get_by_label(f"Amount to repay on {number} (₹)").fill("")
    row.get_by_role("button", name=f"Repay {number}").click()
    expect(row.get_by_role("alert")).to_have_text("Enter the amount to repay, or use Repay all.")
    assert server.balance(buyer) == 1_99_999_75
    row.get_by_role("button", name=f"Repay all ₹1,99,999.75 of {number}").click()
    expect(row).to_contain_text("repaid")
    assert server.balance(buyer) == 0
    assert server.balance(investor) == 10_00_000 * RUPEE - 2_70_000 * RUPEE + 3_00_000 * RUPEE
    tab.assert_no_console_errors(allowed=("422",))
    tab.context.close()


def test_an_exposure_limit_is_set_enforced_and_removed(browser: Browser, server: WebServer) -> None:
    seller, buyer, investor, _ = parties(server, "LIM")
    number = f"LIM-{seller.id[-6:]}"
    server.create_invoice(seller, buyer, number, 2_00_000 * RUPEE, 1_80_000 * RUPEE)
    tab = signed_in(browser, server, investor)
    page = tab.page
    go_to(page, "Limits")
    page.get_by_label("Find buyer").fill(buyer.display)
    expect(page.get_by_label("Buyer", exact=True)).to_have_value(buyer.id)
    page.get_by_label("Limit (₹)").fill("1,50,000")
    page.get_by_role("button", name="Set limit").click()
    limit_row = page.get_by_role("row").filter(has_text=buyer.display)
    expect(limit_row).to_contain_text("₹1,50,000.00")
    expect(limit_row).to_contain_text("₹0.00")

    go_to(page, "Marketplace")
    page.get_by_role("button", name=f"Invest in {number}").click()
    panel = page.get_by_role("region", name=f"Invest in {number}")
    panel.get_by_role("button", name="Fund").click()
    expect(panel.get_by_role("alert").first).to_contain_text("limit")
    assert server.balance(investor) == 10_00_000 * RUPEE  # nothing moved

    go_to(page, "Limits")
    page.get_by_role("button", name=f"Remove limit on {buyer.display}").click()
    expect(page.get_by_text("No limits set")).to_be_visible()
    go_to(page, "Marketplace")
    page.get_by_role("button", name=f"Invest in {number}").click()
    page.get_by_role("region", name=f"Invest in {number}").get_by_role("button", name="Fund").click()
    expect(page.locator(".top .balance")).to_have_text("₹8,20,000.00")
    tab.assert_no_console_errors(allowed=("409",))
    tab.context.close()


def test_the_dashboard_draws_its_series_as_svg_charts(browser: Browser, server: WebServer) -> None:
    seller, buyer, investor, _ = parties(server, "DASH")
    invoice = server.create_invoice(seller, buyer, f"D-{seller.id[-6:]}", 1_00_000 * RUPEE, 95_000 * RUPEE)
    server.api("POST", f"/api/invoices/{invoice['id']}/fund", investor.token, {"amount": 95_000 * RUPEE})
    tab = signed_in(browser, server, seller)
    page = tab.page
    go_to(page, "Dashboard")
    expect(page.get_by_role("img", name="Raised per day: ₹95,000.00 over 30 days")).to_be_visible()
    expect(page.get_by_role("img", name="Listed per day: ₹1,00,000.00 over 30 days")).to_be_visible()
    stat = page.locator(".stat").filter(has_text="Raised (net of fees)")
    expect(stat).to_contain_text("₹95,000.00")
    # a funding elsewhere redraws it live
    second = server.create_invoice(seller, buyer, f"D2-{seller.id[-6:]}", 50_000 * RUPEE, 45_000 * RUPEE)
    server.api("POST", f"/api/invoices/{second['id']}/fund", investor.token, {"amount": 46_000 * RUPEE})
    expect(page.get_by_role("img", name="Raised per day: ₹1,41,000.00 over 30 days")).to_be_visible()
    tab.assert_no_console_errors()
    tab.context.close()


def test_sign_in_works_from_the_keyboard_alone(browser: Browser, server: WebServer) -> None:
    investor = server.sign_up("investor", "Keys")
    tab = open_tab(browser, server)
    page = tab.page
    page.goto("/")
    expect(page.get_by_label("Email", exact=True)).to_be_focused()
    page.keyboard.type(investor.email)
    page.keyboard.press("Tab")
    page.keyboard.type("correct-horse")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Marketplace")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
    tab.assert_no_console_errors()
    tab.context.close()


def test_a_phone_width_investor_can_fund(browser: Browser, server: WebServer) -> None:
    seller, buyer, investor, _ = parties(server, "PHONE")
    number = f"PH-{seller.id[-6:]}"
    server.create_invoice(seller, buyer, number, 1_00_000 * RUPEE, 90_000 * RUPEE)
    tab = signed_in(browser, server, investor, width=390, height=844)
    page = tab.page
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    page.get_by_role("button", name=f"Invest in {number}").click()
    panel = page.get_by_role("region", name=f"Invest in {number}")
    expect(panel).to_be_in_viewport()
    panel.get_by_role("button", name="Fund").click()
    expect(panel.get_by_role("status")).to_contain_text(f"Funded {number} for ₹90,000.00")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    tab.assert_no_console_errors()
    tab.context.close()


def test_the_seller_cancels_a_listed_invoice_and_the_marketplace_sees_it_close(browser: Browser,
                                                                              server: WebServer) -> None:
    seller, buyer, investor, _ = parties(server, "CAN")
    number = f"CAN-{seller.id[-6:]}"
    seller_tab, investor_tab = signed_in(browser, server, seller), signed_in(browser, server, investor)
    list_invoice(seller_tab.page, buyer, number, "1,00,000", "95,000")
    market_row = investor_tab.page.get_by_role("row").filter(has_text=number)
    expect(market_row.get_by_role("button", name=f"Invest in {number}")).to_be_enabled()
    seller_tab.page.get_by_role("button", name=f"Cancel {number}").click()
    expect(seller_tab.page.get_by_role("row").filter(has_text=number)).to_contain_text("cancelled")
    expect(market_row).to_contain_text("cancelled")
    expect(market_row.get_by_role("button", name=f"Invest in {number}")).to_be_disabled()
    for tab in (seller_tab, investor_tab):
        tab.assert_no_console_errors()
        tab.context.close()


def test_a_repay_whose_answer_is_lost_is_retried_with_its_key_after_the_row_is_rebuilt(browser: Browser,
                                                                                        server: WebServer) -> None:
    """The payment's own event rebuilds the row before the buyer retries: the retry is still the same
    request (same Idempotency-Key), so the money moves once."""
    _, buyer, _, invoice = owed(server, "LOST", 2_00_000 * RUPEE, 1_80_000 * RUPEE)
    number = invoice["invoiceNumber"]
    tab = signed_in(browser, server, buyer)
    page = tab.page
    lost = LostFirstAnswer()
    page.route(f"**/api/invoices/{invoice['id']}/repay", lost)
    row = row_of(page, number)
    row.get_by_label(f"Amount to repay on {number} (₹)").fill("50,000")
    row.get_by_role("button", name=f"Repay {number}").click()
    expect(row).to_contain_text("₹1,50,000.00")  # the payment's event rebuilt the row: outstanding
    expect(row.get_by_role("alert")).to_contain_text("The server cannot be reached")
    row.get_by_label(f"Amount to repay on {number} (₹)").fill("50,000")
    # the balance shows the payment already (its event): wait for the retry's own answer
    with page.expect_response(f"**/api/invoices/{invoice['id']}/repay"):
        row.get_by_role("button", name=f"Repay {number}").click()
    expect(page.locator(".top .balance")).to_have_text("₹1,50,000.00")
    assert len(lost.keys) == 2 and lost.keys[0] == lost.keys[1]
    assert lost.statuses == [200, 200]  # the retry was answered as a replay of the first
    assert server.balance(buyer) == 1_50_000 * RUPEE  # paid once
    shown = server.api("GET", f"/api/invoices/{invoice['id']}", buyer.token)["invoice"]
    assert shown["outstanding"] == 1_50_000 * RUPEE
    tab.assert_no_console_errors(allowed=("net::ERR_CONNECTION_RESET", "Failed to fetch"))
    tab.context.close()


def test_the_marketplace_buyer_filter_starts_at_any_buyer_and_filters_when_chosen(browser: Browser,
                                                                                  server: WebServer) -> None:
    seller, buyer, investor, _ = parties(server, "FLT")
    other = server.sign_up("buyer", "Other FLT", company=f"Other Buyer FLT {seller.id[-6:]}")
    mine, theirs = f"FLT-A-{seller.id[-6:]}", f"FLT-B-{seller.id[-6:]}"
    server.create_invoice(seller, buyer, mine, 1_000 * RUPEE, 900 * RUPEE)
    server.create_invoice(seller, other, theirs, 1_000 * RUPEE, 900 * RUPEE)
    tab = signed_in(browser, server, investor)
    page = tab.page
    filters = page.get_by_role("form", name="Filters")
    filters.get_by_label("Find buyer").fill(other.display)  # one match: still not chosen for the person
    expect(filters.get_by_label("Buyer", exact=True).locator("option")).to_have_count(2)
    expect(filters.get_by_label("Buyer", exact=True)).to_have_value("")
    filters.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("row").filter(has_text=mine)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=theirs)).to_be_visible()
    filters.get_by_label("Buyer", exact=True).select_option(other.id)
    filters.get_by_role("button", name="Apply filters").click()
    expect(page.get_by_role("row").filter(has_text=mine)).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text=theirs)).to_be_visible()
    tab.assert_no_console_errors()
    tab.context.close()
