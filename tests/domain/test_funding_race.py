"""Concurrency on a real redis-server: many investors race for one invoice through the HTTP app."""

from __future__ import annotations

import asyncio
from collections import Counter

from finance.books import ledger
from tests.conftest import Backend
from tests.helpers.api import balance, create_invoice, deposit, error_code, fund, register

INVESTORS = 100


async def test_hundred_concurrent_fundings_give_exactly_one_success(real_backend: Backend) -> None:
    app = real_backend.app()
    async with app.test_app():
        client = app.test_client()
        seller = await register(client, "seller")
        buyer = await register(client, "buyer")
        investors = [await register(client, "investor") for _ in range(INVESTORS)]
        for investor in investors:
            await deposit(client, investor, 1_000_000)
        invoice = await create_invoice(client, seller, buyer, amount=800_000, ask_amount=700_000)

        responses = await asyncio.gather(*(fund(client, i, invoice["id"], 750_000) for i in investors))

        statuses = Counter(r.status_code for r in responses)
        assert statuses == {200: 1, 409: INVESTORS - 1}
        codes = Counter([await error_code(r) for r in responses if r.status_code == 409])
        assert codes == {"invoice_not_listed": INVESTORS - 1}
        winner = next(i for i, r in zip(investors, responses, strict=True) if r.status_code == 200)
        for investor in investors:
            expected = 250_000 if investor is winner else 1_000_000
            assert await balance(client, investor) == expected
        assert await balance(client, seller) == 750_000

        report = await ledger.check(app.extensions["market"])
        assert report.ok, report.problems


async def test_concurrent_withdrawals_never_overdraw(real_backend: Backend) -> None:
    app = real_backend.app()
    async with app.test_app():
        client = app.test_client()
        investor = await register(client, "investor")
        await deposit(client, investor, 1_000)
        responses = await asyncio.gather(*(
            client.post("/api/wallet/withdraw", json={"amount": 300}, headers=investor.headers) for _ in range(20)
        ))
        assert Counter(r.status_code for r in responses) == {200: 3, 409: 17}
        assert await balance(client, investor) == 100
