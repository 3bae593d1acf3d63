"""Money routes trust a user cached in the process only because their script checks the session again:
a token revoked elsewhere (another worker's logout, an expiry) moves nothing."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from finance.auth import users
from finance.market import Market
from tests.helpers.api import balance, create_invoice, deposit, error_code, fund, register, trio


async def revoke_behind_the_cache(market: Market, token: str) -> None:
    """What another worker's logout does: the token's hash is gone from Redis, this process's cache
    still has the user."""
    key = market.keys.token(users._token_hash(token))
    assert market.sessions.get(key) is not None
    await market.redis.delete(key)


async def test_a_token_revoked_elsewhere_cannot_deposit(client: Client, market: Market) -> None:
    investor = await register(client, "investor")
    await deposit(client, investor, 1_000)
    await revoke_behind_the_cache(market, investor.token)
    response = await client.post("/api/wallet/deposit", json={"amount": 5}, headers=investor.headers)
    assert (response.status_code, await error_code(response)) == (401, "unauthorized")
    assert market.sessions.get(market.keys.token(users._token_hash(investor.token))) is None
    assert (await client.get("/api/wallet", headers=investor.headers)).status_code == 401
    fields = await market.redis.hgetall(market.keys.wallet(investor.id))
    assert fields["balance"] == "1000"


async def test_a_token_revoked_elsewhere_cannot_fund(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=400_000)
    await revoke_behind_the_cache(market, t.investor.token)
    response = await fund(client, t.investor, invoice["id"], 450_000)
    assert (response.status_code, await error_code(response)) == (401, "unauthorized")
    assert await balance(client, t.seller) == 0
    status = (await (await client.get(f"/api/invoices/{invoice['id']}", headers=t.seller.headers)).get_json())
    assert status["invoice"]["status"] == "listed"


async def test_logout_stops_money_routes_at_once(client: Client) -> None:
    investor = await register(client, "investor")
    await deposit(client, investor, 1_000)
    assert (await client.post("/api/auth/logout", headers=investor.headers)).status_code == 204
    response = await client.post("/api/wallet/withdraw", json={"amount": 5}, headers=investor.headers)
    assert (response.status_code, await error_code(response)) == (401, "unauthorized")
