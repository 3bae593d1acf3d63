"""BUYER_ACCEPTANCE=required in the browser: the buyer accepts one invoice and rejects another with a
reason; the seller sees both answers live, and only the accepted one reaches the marketplace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.helpers.redis_process import RedisProcess
from tests.helpers.web import RUPEE, WebServer, signed_in


@pytest.fixture(scope="module")
def acceptance_server(web_redis: RedisProcess) -> Iterator[WebServer]:
    running = WebServer(web_redis.url, BUYER_ACCEPTANCE="required")
    running.start()
    yield running
    running.close()


def test_the_buyer_accepts_one_invoice_and_rejects_another_live(browser: Browser, acceptance_server: WebServer) -> None:
    server = acceptance_server
    seller = server.sign_up("seller", "Accept Seller", company="Acceptance Textiles")
    buyer = server.sign_up("buyer", "Accept Buyer", company="Acceptance Motors")
    investor = server.sign_up("investor", "Accept Investor")
    good, bad = f"ACC-OK-{seller.id[-6:]}", f"ACC-NO-{seller.id[-6:]}"
    seller_tab, buyer_tab, investor_tab = (signed_in(browser, server, user) for user in (seller, buyer, investor))
    for number in (good, bad):
        server.create_invoice(seller, buyer, number, 1_00_000 * RUPEE, 95_000 * RUPEE)

    b = buyer_tab.page
    pending = b.get_by_role("region", name="Awaiting your acceptance")
    expect(pending.get_by_role("row").filter(has_text=good)).to_be_visible()
    expect(pending.get_by_role("row").filter(has_text=bad)).to_be_visible()
    pending.get_by_role("button", name=f"Reject {bad}").click()
    bad_row = pending.get_by_role("row").filter(has_text=bad)
    expect(bad_row.get_by_role("alert")).to_contain_text("Give the seller a reason")
    pending.get_by_label(f"Reason to reject {bad}").fill("Goods not received")
    pending.get_by_role("button", name=f"Reject {bad}").click()
    pending.get_by_role("button", name=f"Accept {good}").click()
    expect(pending).to_be_hidden()  # nothing left to answer
    expect(b.get_by_role("row").filter(has_text=good)).to_contain_text("listed")

    s = seller_tab.page
    expect(s.get_by_role("row").filter(has_text=good)).to_contain_text("listed")
    expect(s.get_by_role("row").filter(has_text=bad)).to_contain_text("rejected")
    i = investor_tab.page
    expect(i.get_by_role("row").filter(has_text=good)).to_be_visible()
    assert i.get_by_role("row").filter(has_text=bad).count() == 0
    rejected = server.api("GET", "/api/invoices/seller?status=rejected", seller.token)["invoices"]
    assert [(x["invoiceNumber"], x["rejectionReason"]) for x in rejected] == [(bad, "Goods not received")]
    for tab in (seller_tab, buyer_tab, investor_tab):
        tab.assert_no_console_errors()
        tab.context.close()
