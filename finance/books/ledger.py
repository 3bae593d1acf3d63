"""The ledger check: the invariants every money movement must keep, verified on a live Redis.

- user wallets + system accounts (each invoice's escrow, the platform's fees) == deposits - withdrawals,
  and the external account holds the opposite
- each wallet's balance == the sum of its own ledger entries (credits - debits), and each entry's
  balanceAfter is the running sum
- no balance is negative (the external account excepted: it is the bank's side)
- each funded, overdue, repaid or defaulted invoice has exactly one investment, which points back at
  it, with the amount funded and the status that goes with the invoice's
- each invoice sits in exactly the indexes its status calls for
- each funding and repayment moved its amount exactly once: one debit and one credit per invoice; the
  seller received the price minus the platform fee, and platform:fees the fee
- an invoice that is closed (funded, repaid, cancelled, ...) holds nothing in its escrow, and a listed
  one holds exactly its pending bids (so no refunded, withdrawn or accepted bid still holds money)

It is safe to run while the server takes traffic: the figures that must agree are read in one
MULTI/EXEC each (all balances with the totals; a wallet's balance with its last entry; an invoice
with its investment and index memberships), and ledger entries are append-only, so what came before a
snapshot's last entry cannot change after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from finance.keys import EXTERNAL_ACCOUNT, escrow_account
from finance.market import Market

# invoice status -> the investment status that goes with it
INVESTMENT_STATUS = {"funded": "active", "overdue": "active", "repaid": "settled", "defaulted": "defaulted",
                     "recovered": "recovered"}
PAGE = 1_000
# no money moves for an invoice once it is in one of these
FINAL_STATUSES = {"repaid", "recovered", "cancelled", "rejected", "expired"}  # a defaulted one may still be paid
# nothing is held for an invoice in one of these: its escrow is empty
CLOSED_STATUSES = {"funded", "overdue", "repaid", "defaulted", "recovered", "cancelled", "rejected", "expired"}


@dataclass
class LedgerReport:
    wallets: int = 0
    system_accounts: int = 0
    entries: int = 0
    invoices: int = 0
    problems: list[str] = field(default_factory=list)
    # (invoice id, kind, type) -> paise: each funding and repayment must be one debit and its credit
    legs: dict[tuple[str, str, str], int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


async def check(market: Market) -> LedgerReport:
    report = LedgerReport()
    accounts = await _check_totals(market, report)  # user wallets, then system accounts
    # invoices before wallets: an invoice seen in a final status has all its legs written already,
    # so the entries read afterwards hold every one of them
    settled = await _check_invoices(market, report)
    for account_id in [*accounts, EXTERNAL_ACCOUNT]:
        await _check_wallet(market, account_id, report)
    for invoice in settled:
        report.problems.extend(_leg_problems(invoice, report.legs))
    return report


async def _check_totals(market: Market, report: LedgerReport) -> list[str]:
    """Every balance and the totals, in one snapshot (taken again if a wallet was added meanwhile)."""
    keys = market.keys
    for _ in range(5):
        users = sorted(await market.redis.smembers(keys.wallets()))
        systems = sorted(await market.redis.smembers(keys.system_accounts()))
        accounts = [*users, *systems]
        async with market.redis.pipeline(transaction=True) as pipe:
            pipe.scard(keys.wallets())
            pipe.scard(keys.system_accounts())
            for account_id in accounts:
                pipe.hget(keys.wallet(account_id), "balance")
            pipe.hgetall(keys.ledger())
            pipe.hget(keys.wallet(EXTERNAL_ACCOUNT), "balance")
            user_count, system_count, *balances, totals, external = await pipe.execute()
        if (user_count, system_count) == (len(users), len(systems)):
            break
    report.wallets, report.system_accounts = len(users), len(systems)
    total = 0
    for account_id, raw in zip(accounts, balances, strict=True):
        balance = int(raw or 0)
        total += balance
        if balance < 0:
            report.problems.append(f"wallet {account_id}: negative balance {balance}")
    net_in = int(totals.get("deposits", 0)) - int(totals.get("withdrawals", 0))
    if total != net_in:
        report.problems.append(f"wallets + system accounts {total} != deposits - withdrawals {net_in}")
    if int(external or 0) != -net_in:
        report.problems.append(f"external account balance {int(external or 0)} != -(deposits - withdrawals) {-net_in}")
    return accounts


async def _check_wallet(market: Market, account_id: str, report: LedgerReport) -> None:
    """The balance against the running sum of the entries up to the last one at the snapshot."""
    wallet_key, entries_key = market.keys.wallet(account_id), market.keys.wallet_entries(account_id)
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.hget(wallet_key, "balance")
        pipe.xrevrange(entries_key, count=1)
        raw_balance, last = await pipe.execute()
    balance = int(raw_balance or 0)
    last_id = last[0][0] if last else None
    running = 0
    after = "-"
    while last_id is not None:
        batch = await market.redis.xrange(entries_key, min=after, max=last_id, count=PAGE)
        if after != "-":
            batch = batch[1:]
        if not batch:
            break
        for entry_id, entry in batch:
            amount = int(entry["amount"])
            running += amount if entry["type"] == "credit" else -amount
            report.entries += 1
            if entry.get("invoiceId"):
                leg = (entry["invoiceId"], entry.get("kind", "?"), entry["type"])
                report.legs[leg] = report.legs.get(leg, 0) + amount
            if int(entry["balanceAfter"]) != running:
                report.problems.append(
                    f"wallet {account_id}: entry {entry_id} says balanceAfter {entry['balanceAfter']}, "
                    f"entries sum to {running}"
                )
        after = batch[-1][0]
    if running != balance:
        report.problems.append(f"wallet {account_id}: balance {balance} != sum of its entries {running}")


async def _check_invoices(market: Market, report: LedgerReport) -> list[dict[str, str]]:
    """Checks each invoice; returns those in a final status, for the legs check."""
    keys = market.keys
    settled: list[dict[str, str]] = []
    per_invoice: dict[str, list[str]] = {}
    async for key in market.redis.scan_iter(match=keys.investment("*"), count=PAGE):
        investment = await market.redis.hgetall(key)
        per_invoice.setdefault(investment.get("invoiceId", "?"), []).append(investment.get("id", key))
    for invoice_id, investment_ids in per_invoice.items():
        if len(investment_ids) > 1:
            report.problems.append(f"invoice {invoice_id}: {len(investment_ids)} investments {sorted(investment_ids)}")
    async for key in market.redis.scan_iter(match=keys.invoice("*"), count=PAGE):
        report.invoices += 1
        for _ in range(5):
            # set once, when funded; if that happens between this read and the snapshot, look again
            investment_id = await market.redis.hget(key, "investmentId")
            snapshot = await _invoice_snapshot(market, key, investment_id)
            if snapshot[0].get("investmentId") == investment_id:
                break
        report.problems.extend(_invoice_problems(*snapshot))
        if snapshot[0].get("status") in FINAL_STATUSES:
            settled.append(snapshot[0])
    return settled


async def _invoice_snapshot(market: Market, key: str, investment_id: str | None) -> tuple[Any, ...]:
    keys = market.keys
    invoice_id = key.rsplit(":", 1)[-1]
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(key)
        pipe.hgetall(keys.investment(investment_id or "-"))
        for index in (*keys.listed_indexes(), keys.funded_by_due(), keys.overdue_by_due(), keys.pending_by_deadline()):
            pipe.zscore(index, invoice_id)
        pipe.hget(keys.wallet(escrow_account(invoice_id)), "balance")
        pipe.zrange(keys.invoice_bids(invoice_id), 0, -1, withscores=True)
        invoice, investment, *scores, escrow, bids = await pipe.execute()
    invoice["escrowBalance"] = escrow or "0"
    invoice["pendingBids"] = str(sum(int(score) for _, score in bids))
    investor_id = invoice.get("investorId")
    listed_by_investor = (
        await market.redis.zscore(keys.user_investments(investor_id), investment_id)
        if investor_id and investment_id else None
    )
    return invoice, investment, scores, listed_by_investor


def _invoice_problems(invoice: dict[str, str], investment: dict[str, str], scores: list[Any],
                      in_investor_list: float | None) -> list[str]:
    problems: list[str] = []
    name, status = f"invoice {invoice.get('id')}", invoice.get("status", "?")
    present = [score is not None for score in scores]
    in_listed, in_funded, in_overdue, in_pending = all(present[:3]), present[3], present[4], present[5]
    if any(present[:3]) and not in_listed:
        problems.append(f"{name}: in some listed indexes but not all")
    expected = (status == "listed", status == "funded", status == "overdue", status == "pending_acceptance")
    if (in_listed, in_funded, in_overdue, in_pending) != expected:
        problems.append(f"{name}: {status} but indexed as listed={in_listed} funded={in_funded} overdue={in_overdue}"
                        f" pending={in_pending}")
    if status in CLOSED_STATUSES and invoice["escrowBalance"] != "0":
        problems.append(f"{name}: {status} but its escrow holds {invoice['escrowBalance']}")
    received = int(invoice.get("received") or 0)
    if not 0 <= received <= int(invoice.get("amount") or 0):
        problems.append(f"{name}: received {received} outside 0..face value")
    if status in ("repaid", "recovered") and received != int(invoice["amount"]):
        problems.append(f"{name}: {status} with {received} received of {invoice['amount']}")
    if invoice["escrowBalance"] != invoice["pendingBids"]:
        problems.append(f"{name}: escrow holds {invoice['escrowBalance']}, its pending bids {invoice['pendingBids']}")
    wanted_investment = INVESTMENT_STATUS.get(status)
    if wanted_investment is None:
        if invoice.get("investmentId"):
            problems.append(f"{name}: {status} but has an investment")
        return problems
    if not invoice.get("investmentId"):
        return [*problems, f"{name}: {status} without an investment"]
    if investment.get("invoiceId") != invoice.get("id"):
        return [*problems, f"{name}: investment {invoice['investmentId']} does not point back"]
    if investment.get("amount") != invoice.get("fundedAmount"):
        problems.append(f"{name}: fundedAmount differs from its investment's amount")
    if investment.get("status") != wanted_investment:
        problems.append(f"{name}: {status} but its investment is {investment.get('status')}")
    if in_investor_list is None:
        problems.append(f"{name}: investment {invoice['investmentId']} not in the investor's list")
    return problems


def _leg_problems(invoice: dict[str, str], legs: dict[tuple[str, str, str], int]) -> list[str]:
    """A funded invoice moved its funded amount once (investor debit, seller credit); a repaid one
    also its face value once (buyer debit, investor credit); nothing else moved money for it. For
    invoices in a final status, whose movements are all written."""
    invoice_id = invoice["id"]
    funded = int(invoice.get("fundedAmount") or 0)
    fee = int(invoice.get("platformFee") or 0)
    received = int(invoice.get("received") or 0)
    wanted = {"funding": funded - fee, "fee": fee, "repayment": received}
    problems = []
    for kind, amount in wanted.items():
        debit, credit = legs.get((invoice_id, kind, "debit"), 0), legs.get((invoice_id, kind, "credit"), 0)
        if debit != amount or credit != amount:
            problems.append(f"invoice {invoice_id}: {kind} legs debit {debit} credit {credit}, expected {amount} each")
    return problems
