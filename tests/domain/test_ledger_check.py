"""The ledger check finds each kind of broken book, and the operator commands work on a live Redis."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

from quart.typing import TestClientProtocol as Client

from finance.books import ledger
from finance.market import Market
from tests.conftest import Backend
from tests.helpers.api import create_invoice, deposit, fund, trio


async def funded_market(client: Client) -> str:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=400_000)
    assert (await fund(client, t.investor, invoice["id"], 450_000)).status_code == 200
    await deposit(client, t.buyer, 10_000)
    return t.investor.id


async def test_check_passes_on_books_the_scripts_wrote(client: Client, market: Market) -> None:
    await funded_market(client)
    report = await ledger.check(market)
    assert report.ok, report.problems
    assert report.wallets == 3
    # investor: deposit, funding; seller: funding; buyer: deposit; external: the two deposits
    assert report.entries == 2 + 1 + 1 + 2
    assert report.invoices == 1


async def test_check_names_a_balance_that_differs_from_its_entries(client: Client, market: Market) -> None:
    investor_id = await funded_market(client)
    await market.redis.hincrby(market.keys.wallet(investor_id), "balance", 1)
    problems = (await ledger.check(market)).problems
    assert f"wallet {investor_id}: balance 550001 != sum of its entries 550000" in problems
    assert "wallets + system accounts 1010001 != deposits - withdrawals 1010000" in problems


async def test_check_names_a_negative_balance_and_a_second_investment(client: Client, market: Market) -> None:
    investor_id = await funded_market(client)
    await market.redis.hset(market.keys.wallet(investor_id), "balance", -5)
    invoice_id = (await market.redis.zrange(market.keys.user_invoices(investor_id), 0, 0))[0]
    await market.redis.hset(market.keys.investment("ivt_forged"), mapping={"id": "ivt_forged", "invoiceId": invoice_id})
    problems = (await ledger.check(market)).problems
    assert f"wallet {investor_id}: negative balance -5" in problems
    assert f"invoice {invoice_id}: investments ['ivt_forged'] name it but it does not hold them" in problems


async def test_check_names_a_funded_invoice_without_investment(client: Client, market: Market) -> None:
    investor_id = await funded_market(client)
    invoice_id = (await market.redis.zrange(market.keys.user_invoices(investor_id), 0, 0))[0]
    await market.redis.hdel(market.keys.invoice(invoice_id), "investmentId")
    assert f"invoice {invoice_id}: funded without an investment" in (await ledger.check(market)).problems


def run_command(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": url, "PASSWORD_HASH_COST": "4"}
    return subprocess.run([sys.executable, "-m", "finance", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


async def test_seed_demo_then_check_commands_on_real_redis(real_backend: Backend) -> None:
    assert real_backend.server is not None
    url = real_backend.server.url
    seeded = run_command(url, "seed-demo")
    assert seeded.returncode == 0, seeded.stderr
    assert '"invoicesFunded": 6' in seeded.stdout
    assert "\"fractionalListed\": 3" in seeded.stdout
    checked = run_command(url, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "ledger OK" in checked.stdout


async def test_check_command_exits_non_zero_naming_what_broke(real_backend: Backend) -> None:
    app = real_backend.app()
    async with app.test_app():
        investor_id = await funded_market(app.test_client())
        market: Market = app.extensions["market"]
        await market.redis.hincrby(market.keys.wallet(investor_id), "balance", -7)
    assert real_backend.server is not None
    checked = run_command(real_backend.server.url, "check")
    assert checked.returncode == 1
    assert f"BROKEN: wallet {investor_id}: balance 549993 != sum of its entries 550000" in checked.stdout


async def test_check_names_an_index_and_an_investment_status_out_of_step(client: Client, market: Market) -> None:
    investor_id = await funded_market(client)
    invoice_id = (await market.redis.zrange(market.keys.user_invoices(investor_id), 0, 0))[0]
    investment_id = await market.redis.hget(market.keys.invoice(invoice_id), "investmentId")
    await market.redis.zadd(market.keys.listed_indexes()[1], {invoice_id: 1})
    await market.redis.hset(market.keys.investment(investment_id), "status", "settled")
    problems = (await ledger.check(market)).problems
    assert f"invoice {invoice_id}: in some listed indexes but not all" in problems
    assert f"invoice {invoice_id}: funded but its investment is settled" in problems


async def test_check_passes_while_money_moves(real_backend: Backend) -> None:
    """Run beside a stream of deposits, fundings and repayments: consistent snapshots, no false alarm."""
    app = real_backend.app()
    async with app.test_app():
        client = app.test_client()
        market: Market = app.extensions["market"]
        t = await trio(client, investor_money=10_000_000)
        invoices = [await create_invoice(client, t.seller, t.buyer, amount=1_000, ask_amount=900) for _ in range(40)]

        await deposit(client, t.buyer, 1_000_000)

        async def traffic() -> None:
            for n, invoice in enumerate(invoices):
                await deposit(client, t.buyer, 3)
                await fund(client, t.investor, invoice["id"], 950)
                if n % 2:
                    await client.post(f"/api/invoices/{invoice['id']}/repay", headers=t.buyer.headers)

        async def checks() -> list[list[str]]:
            found = []
            for _ in range(10):
                found.append((await ledger.check(market)).problems)
            return found

        _, reports = await asyncio.gather(traffic(), checks())
        assert reports == [[]] * 10


async def test_check_names_a_repayment_paid_twice_even_when_both_legs_balance(client: Client, market: Market) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=400_000)
    await fund(client, t.investor, invoice["id"], 450_000)
    await deposit(client, t.buyer, 1_000_000)
    assert (await client.post(f"/api/invoices/{invoice['id']}/repay", headers=t.buyer.headers)).status_code == 200
    assert (await ledger.check(market)).ok
    # a second repayment written by hand, both legs, so every balance still adds up
    for account_id, entry_type, delta in ((t.buyer.id, "debit", -500_000), (t.investor.id, "credit", 500_000)):
        balance = await market.redis.hincrby(market.keys.wallet(account_id), "balance", delta)
        await market.redis.xadd(market.keys.wallet_entries(account_id), {
            "type": entry_type, "amount": 500_000, "balanceAfter": balance, "kind": "repayment",
            "description": "again", "invoiceId": invoice["id"], "counterparty": "x", "createdAt": "x"})
    problems = (await ledger.check(market)).problems
    assert problems == [
        f"invoice {invoice['id']}: repayment legs debit 1000000 credit 1000000, expected 500000 each"
    ]
