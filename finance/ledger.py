"""The ledger check: the invariants every money movement must keep, verified on a live Redis.

- the sum of all user balances == deposits - withdrawals, and the external account holds the opposite
- each wallet's balance == the sum of its own ledger entries (credits - debits), and each entry's
  balanceAfter is the running sum
- no balance is negative (the external account excepted: it is the bank's side)
- each funded, overdue, repaid or defaulted invoice has exactly one investment, which points back at it
"""

from __future__ import annotations

from dataclasses import dataclass, field

from finance.keys import EXTERNAL_ACCOUNT
from finance.market import Market

FUNDED_STATUSES = {"funded", "overdue", "repaid", "defaulted"}


@dataclass
class LedgerReport:
    wallets: int = 0
    entries: int = 0
    invoices: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def _entries_sum(market: Market, account_id: str, report: LedgerReport) -> int:
    running = 0
    last = "-"
    while True:
        batch = await market.redis.xrange(market.keys.wallet_entries(account_id), min=last, count=1_000)
        if last != "-":
            batch = batch[1:]
        if not batch:
            return running
        for entry_id, entry in batch:
            amount = int(entry["amount"])
            running += amount if entry["type"] == "credit" else -amount
            report.entries += 1
            if int(entry["balanceAfter"]) != running:
                report.problems.append(
                    f"wallet {account_id}: entry {entry_id} says balanceAfter {entry['balanceAfter']}, "
                    f"entries sum to {running}"
                )
        last = batch[-1][0]


async def check(market: Market) -> LedgerReport:
    report = LedgerReport()
    keys = market.keys
    user_total = 0
    for account_id in sorted(await market.redis.smembers(keys.wallets())):
        report.wallets += 1
        balance = int(await market.redis.hget(keys.wallet(account_id), "balance") or 0)
        user_total += balance
        if balance < 0:
            report.problems.append(f"wallet {account_id}: negative balance {balance}")
        entries_total = await _entries_sum(market, account_id, report)
        if entries_total != balance:
            report.problems.append(f"wallet {account_id}: balance {balance} != sum of its entries {entries_total}")

    totals = await market.redis.hgetall(keys.ledger())
    net_in = int(totals.get("deposits", 0)) - int(totals.get("withdrawals", 0))
    if user_total != net_in:
        report.problems.append(f"sum of balances {user_total} != deposits - withdrawals {net_in}")
    external = int(await market.redis.hget(keys.wallet(EXTERNAL_ACCOUNT), "balance") or 0)
    if external != -net_in:
        report.problems.append(f"external account balance {external} != -(deposits - withdrawals) {-net_in}")
    external_entries = await _entries_sum(market, EXTERNAL_ACCOUNT, report)
    if external_entries != external:
        report.problems.append(f"external account: balance {external} != sum of its entries {external_entries}")

    await _check_investments(market, report)
    return report


async def _check_investments(market: Market, report: LedgerReport) -> None:
    per_invoice: dict[str, list[str]] = {}
    async for key in market.redis.scan_iter(match=market.keys.investment("*"), count=1_000):
        investment = await market.redis.hgetall(key)
        per_invoice.setdefault(investment.get("invoiceId", "?"), []).append(investment.get("id", key))
    for invoice_id, investment_ids in per_invoice.items():
        if len(investment_ids) > 1:
            report.problems.append(f"invoice {invoice_id}: {len(investment_ids)} investments {sorted(investment_ids)}")
    async for key in market.redis.scan_iter(match=market.keys.invoice("*"), count=1_000):
        report.invoices += 1
        invoice = await market.redis.hgetall(key)
        investment_id = invoice.get("investmentId")
        if invoice.get("status") not in FUNDED_STATUSES:
            if investment_id:
                report.problems.append(f"invoice {invoice.get('id')}: {invoice.get('status')} but has an investment")
            continue
        if not investment_id:
            report.problems.append(f"invoice {invoice['id']}: {invoice['status']} without an investment")
            continue
        investment = await market.redis.hgetall(market.keys.investment(investment_id))
        if investment.get("invoiceId") != invoice["id"]:
            report.problems.append(f"invoice {invoice['id']}: investment {investment_id} does not point back")
        elif investment.get("amount") != invoice.get("fundedAmount"):
            report.problems.append(f"invoice {invoice['id']}: fundedAmount differs from its investment's amount")
        investments = await market.redis.zscore(market.keys.user_investments(invoice["investorId"]), investment_id)
        if investments is None:
            report.problems.append(f"invoice {invoice['id']}: investment {investment_id} not in the investor's list")
