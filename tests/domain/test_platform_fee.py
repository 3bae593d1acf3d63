"""The platform fee (PLATFORM_FEE_BPS): at funding the seller receives the price minus
floor(price * bps / 10000) and platform:fees the fee, in the same script; the invoice records it, the
seller's figures are net of it, and the ledger check accounts for every paisa of it."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.keys import FEES_ACCOUNT, Keys
from finance.market import Market
from finance.scripts import PRELUDE, script_source
from finance.settings import Settings
from tests.conftest import Backend
from tests.helpers.api import balance, create_invoice, fund, trio

PRICE_MAX = 10**15


@pytest.fixture
async def fee_app(backend: Backend) -> Any:
    app = backend.app(platform_fee_bps=250)
    async with app.test_app():
        yield app


def _fee_source(price: int, bps: int) -> str:
    return Keys().lua_key_functions() + script_source(PRELUDE) + f"return fee_of({price}, {bps})"


async def test_fee_goes_to_the_fee_account_and_the_seller_gets_the_rest(fee_app: Any) -> None:
    client: Client = fee_app.test_client()
    market: Market = fee_app.extensions["market"]
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    response = await fund(client, t.investor, invoice["id"], 470_001)
    data = await response.get_json()
    fee = 470_001 * 250 // 10_000  # 11_750
    assert (data["invoice"]["platformFee"], data["invoice"]["fundedAmount"]) == (fee, 470_001)
    assert data["wallet"]["balance"] == 1_000_000 - 470_001
    assert await balance(client, t.seller) == 470_001 - fee
    assert await market.redis.hget(market.keys.wallet(FEES_ACCOUNT), "balance") == str(fee)
    page = await (await client.get("/api/wallet/transactions", headers=t.investor.headers)).get_json()
    assert [(row["type"], row["amount"]) for row in page["transactions"][:2]] == [("debit", fee),
                                                                                 ("debit", 470_001 - fee)]
    dashboard = await (await client.get("/api/users/dashboard", headers=t.seller.headers)).get_json()
    assert (dashboard["stats"]["raisedAmount"], dashboard["series"][-1]["raised"]) == (470_001 - fee, 470_001 - fee)
    investor_dashboard = await (await client.get("/api/users/dashboard", headers=t.investor.headers)).get_json()
    assert investor_dashboard["stats"]["investedAmount"] == 470_001  # the investor paid the whole price
    events = await market.redis.xrange(market.keys.user_stream(t.seller.id))
    funded = next(fields for _, fields in events if fields["event"] == "invoiceFunded")
    assert '"platformFee":11750' in funded["data"] and '"amount":470001' in funded["data"]
    report = await ledger.check(market)
    assert report.ok, report.problems
    assert report.system_accounts == 1


async def test_the_check_finds_a_fee_that_went_astray(fee_app: Any) -> None:
    client: Client = fee_app.test_client()
    market: Market = fee_app.extensions["market"]
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    await fund(client, t.investor, invoice["id"], 480_000)
    await market.redis.hincrby(market.keys.wallet(FEES_ACCOUNT), "balance", -1)
    problems = (await ledger.check(market)).problems
    assert any("wallets + system accounts" in problem for problem in problems), problems
    assert f"wallet {FEES_ACCOUNT}: balance 11999 != sum of its entries 12000" in problems


async def test_without_a_fee_nothing_reaches_the_fee_account(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    data = await (await fund(client, t.investor, invoice["id"], 470_000)).get_json()
    assert data["invoice"]["platformFee"] == 0
    assert await balance(client, t.seller) == 470_000
    assert not await market.redis.exists(market.keys.wallet(FEES_ACCOUNT))
    assert (await ledger.check(market)).system_accounts == 0


@pytest.mark.parametrize(("price", "bps"), [
    (PRICE_MAX, 10_000), (PRICE_MAX, 9_999), (PRICE_MAX - 1, 9_999), (99_999_999, 9_999), (100_000_001, 1),
    (1, 10_000), (1, 9_999), (123_456_789_012_345, 250), (2**53 // 10_000, 10_000),
])
async def test_fee_of_is_exact_on_real_redis(real_backend: Backend, price: int, bps: int) -> None:
    assert real_backend.server is not None
    import redis.asyncio as redis

    client = redis.Redis.from_url(real_backend.server.url)
    try:
        assert await client.eval(_fee_source(price, bps), 0) == price * bps // 10_000
    finally:
        await client.aclose()


@settings(max_examples=300, deadline=None)
@given(price=st.integers(1, PRICE_MAX), bps=st.integers(0, 10_000))
def test_fee_of_matches_python_integers(price: int, bps: int) -> None:
    redis = fakeredis.FakeRedis()
    assert redis.eval(_fee_source(price, bps), 0) == price * bps // 10_000


@pytest.mark.parametrize("bps", [-1, 10_001])
def test_a_fee_outside_0_to_10000_bps_refuses_to_start(bps: int) -> None:
    with pytest.raises(ValueError, match="PLATFORM_FEE_BPS"):
        Settings.from_env({"PLATFORM_FEE_BPS": str(bps)})
