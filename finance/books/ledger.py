"""The ledger check: the invariants every money movement must keep, verified on a live Redis.

- user wallets + system accounts (each invoice's escrow, the platform's fees) == deposits - withdrawals,
  and the external account holds the opposite
- each wallet's balance == the sum of its own ledger entries (credits - debits), and each entry's
  balanceAfter is the running sum
- no balance is negative (the external account excepted: it is the bank's side)
- each funded, overdue, repaid or defaulted whole invoice has exactly one investment, which points back
  at it, with the amount funded and the status that goes with the invoice's; a fractional invoice's
  claims, in participation order, each cost their cumulative-rounded share of askAmount, sum to its
  fundedClaim and paidIn, are the face value bought for askAmount once funded, and carry the status
  that goes with the invoice's; no investment names an invoice that does not hold it
- what the holders received sums to what the invoice received, each at most its claim
- each invoice sits in exactly the indexes its status calls for
- each funding and repayment moved its amount exactly once: one debit and one credit per invoice; the
  seller received the price minus the platform fee, and platform:fees the fee
- an invoice that is closed (funded, repaid, cancelled, ...) holds nothing in its escrow, and a listed
  one holds exactly its pending bids, or the prices of its claims (so no refunded, withdrawn or
  accepted bid, and no refunded claim, still holds money)

It is safe to run while the server takes traffic: the figures that must agree are read in one
MULTI/EXEC each (all balances with the totals; a wallet's balance with its last entry; an invoice
with its investment and index memberships), and ledger entries are append-only, so what came before a
snapshot's last entry cannot change after it.
"""

from __future__ import annotations

import asyncio
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
    # invoices that changed between every pair of reads (a claim race at its height): not judged
    unsettled: list[str] = field(default_factory=list)
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
    # and every account that exists now: an escrow opened (and maybe closed) since the totals were read
    # holds legs of invoices checked above; entries are append-only, so more accounts is still sound
    later = await market.redis.smembers(market.keys.wallets()) | await market.redis.smembers(
        market.keys.system_accounts())
    for account_id in [*accounts, *sorted(set(later) - set(accounts)), EXTERNAL_ACCOUNT]:
        await _check_wallet(market, account_id, report)
    for snapshot in settled:
        report.problems.extend(_leg_problems(snapshot, report.legs))
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


async def _check_invoices(market: Market, report: LedgerReport) -> list[Snapshot]:
    """Checks each invoice; returns those in a final status, for the legs check."""
    keys = market.keys
    settled: list[Snapshot] = []
    pointing: dict[str, set[str]] = {}  # invoice id -> the investments that name it
    async for key in market.redis.scan_iter(match=keys.investment("*"), count=PAGE):
        investment = await market.redis.hgetall(key)
        pointing.setdefault(investment.get("invoiceId", "?"), set()).add(investment.get("id", key))
    async for key in market.redis.scan_iter(match=keys.invoice("*"), count=PAGE):
        report.invoices += 1
        snapshot = await _invoice_snapshot(market, key)
        if snapshot is None:
            report.unsettled.append(key.rsplit(":", 1)[-1])
            pointing.pop(key.rsplit(":", 1)[-1], None)
            continue
        held = {investment.get("id") for investment in snapshot.investments}
        strays = pointing.pop(snapshot.invoice.get("id", "?"), set()) - held
        if strays:
            report.problems.append(f"invoice {snapshot.invoice.get('id')}: investments {sorted(strays)} name it "
                                   "but it does not hold them")
        report.problems.extend(_invoice_problems(snapshot))
        if snapshot.invoice.get("status") in FINAL_STATUSES:
            settled.append(snapshot)
    for invoice_id, investment_ids in pointing.items():
        report.problems.append(f"investments {sorted(investment_ids)} name invoice {invoice_id}, which does not exist")
    return settled


@dataclass
class Snapshot:
    """One invoice as of one MULTI: its hash, its investments in participation order, its index
    memberships, its escrow and pending bids; and whether each investment is in its investor's list."""

    invoice: dict[str, str]
    investments: list[dict[str, str]]
    scores: list[Any]
    escrow: int
    pending_bids: int
    listed_by_investor: list[bool]

    @property
    def fractional(self) -> bool:
        return bool(self.invoice.get("minTicket"))


def _holding_ids(invoice: dict[str, str], holdings: list[str]) -> list[str]:
    """The invoice's investments: its holdings list, or the one investment of a whole invoice funded
    before the list was kept."""
    if holdings:
        return holdings
    return [invoice["investmentId"]] if invoice.get("investmentId") else []


SNAPSHOT_TRIES = 20


async def _invoice_snapshot(market: Market, key: str) -> Snapshot | None:
    """The invoice as of one MULTI, or None if it changed between every pair of reads."""
    keys = market.keys
    invoice_id = key.rsplit(":", 1)[-1]
    for attempt in range(SNAPSHOT_TRIES):
        # which investments to read is known only from the invoice: read it, then everything in one MULTI,
        # and look again if the invoice changed in between
        async with market.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.lrange(keys.invoice_holdings(invoice_id), 0, -1)
            first, holdings = await pipe.execute()
        ids = _holding_ids(first, holdings)
        async with market.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            for investment_id in ids:
                pipe.hgetall(keys.investment(investment_id))
            for index in (*keys.listed_indexes(), keys.funded_by_due(), keys.overdue_by_due(),
                          keys.pending_by_deadline(), keys.fractional_by_deadline()):
                pipe.zscore(index, invoice_id)
            pipe.hget(keys.wallet(escrow_account(invoice_id)), "balance")
            pipe.zrange(keys.invoice_bids(invoice_id), 0, -1, withscores=True)
            invoice, *rest = await pipe.execute()
        if invoice == first:
            break
        await asyncio.sleep(0.001 * attempt)
    else:
        return None
    investments, scores, (escrow, bids) = rest[:len(ids)], rest[len(ids):-2], rest[-2:]
    # an investment, once listed in its investor's list, stays there: reading this later is sound
    async with market.redis.pipeline(transaction=False) as pipe:
        for row in investments:
            pipe.zscore(keys.user_investments(row.get("investorId", "-")), row.get("id", "-"))
        listed = [score is not None for score in await pipe.execute()]
    return Snapshot(invoice, investments, scores, int(escrow or 0), sum(int(score) for _, score in bids), listed)


# a fractional invoice's status -> the status of every claim on it
CLAIM_STATUS = {"listed": "reserved", "cancelled": "refunded", "expired": "refunded", **INVESTMENT_STATUS}


def _invoice_problems(snap: Snapshot) -> list[str]:
    invoice = snap.invoice
    problems: list[str] = []
    name, status = f"invoice {invoice.get('id')}", invoice.get("status", "?")
    present = [score is not None for score in snap.scores]
    in_listed, in_funded, in_overdue, in_pending = all(present[:3]), present[3], present[4], present[5]
    if present[6] != (snap.fractional and status == "listed"):
        problems.append(f"{name}: {status} but in the fractional deadline index: {present[6]}")
    if any(present[:3]) and not in_listed:
        problems.append(f"{name}: in some listed indexes but not all")
    expected = (status == "listed", status == "funded", status == "overdue", status == "pending_acceptance")
    if (in_listed, in_funded, in_overdue, in_pending) != expected:
        problems.append(f"{name}: {status} but indexed as listed={in_listed} funded={in_funded} overdue={in_overdue}"
                        f" pending={in_pending}")
    face = int(invoice.get("amount") or 0)
    received = int(invoice.get("received") or 0)
    if not 0 <= received <= face:
        problems.append(f"{name}: received {received} outside 0..face value")
    if status in ("repaid", "recovered") and received != face:
        problems.append(f"{name}: {status} with {received} received of {face}")
    held = int(invoice.get("paidIn") or 0) if snap.fractional and status == "listed" else 0
    if status in CLOSED_STATUSES and snap.escrow != 0:
        problems.append(f"{name}: {status} but its escrow holds {snap.escrow}")
    elif snap.escrow != snap.pending_bids + held:
        what = f"its claims {held}" if snap.fractional else f"its pending bids {snap.pending_bids}"
        problems.append(f"{name}: escrow holds {snap.escrow}, {what}")
    for investment, listed in zip(snap.investments, snap.listed_by_investor, strict=True):
        if investment.get("invoiceId") != invoice.get("id"):
            problems.append(f"{name}: investment {investment.get('id')} does not point back")
        elif not listed:
            problems.append(f"{name}: investment {investment.get('id')} not in the investor's list")
    received_by_holders = sum(int(row.get("received") or 0) for row in snap.investments)
    if snap.investments and "received" in snap.investments[0] and received_by_holders != received:
        problems.append(f"{name}: its holders received {received_by_holders}, the invoice {received}")
    for row in snap.investments:
        claim = int(row.get("claim") or row.get("expectedReturn") or 0)
        if not 0 <= int(row.get("received") or 0) <= claim:
            problems.append(f"{name}: investment {row.get('id')} received {row.get('received')} of a claim of {claim}")
    checks = _claim_problems if snap.fractional else _whole_problems
    return [*problems, *(f"{name}: {problem}" for problem in checks(snap))]


def _whole_problems(snap: Snapshot) -> list[str]:
    """A whole invoice: one investment while funded and after, none before, with the funded amount."""
    invoice, status = snap.invoice, snap.invoice.get("status", "?")
    wanted = INVESTMENT_STATUS.get(status)
    if wanted is None:
        return [f"{status} but has an investment"] if snap.investments else []
    if not invoice.get("investmentId"):
        return [f"{status} without an investment"]
    if len(snap.investments) != 1:
        return [f"{status} with {len(snap.investments)} investments (one expected)"]
    [investment] = snap.investments
    problems = []
    if investment.get("id") != invoice["investmentId"]:
        problems.append(f"investment {investment.get('id')} is not its investmentId {invoice['investmentId']}")
    if investment.get("amount") != invoice.get("fundedAmount"):
        problems.append("fundedAmount differs from its investment's amount")
    if investment.get("status") != wanted:
        problems.append(f"{status} but its investment is {investment.get('status')}")
    return problems


def _claim_problems(snap: Snapshot) -> list[str]:
    """A fractional invoice: its claims, in order, cost their cumulative-rounded shares of askAmount;
    they add up to fundedClaim and paidIn; once funded they are the face value and cost askAmount."""
    invoice, status = snap.invoice, snap.invoice.get("status", "?")
    face, ask = int(invoice["amount"]), int(invoice["askAmount"])
    problems = []
    sold = paid = 0
    wanted = CLAIM_STATUS.get(status)
    for row in snap.investments:
        claim, amount = int(row.get("claim") or 0), int(row.get("amount") or 0)
        price = (sold + claim) * ask // face - sold * ask // face
        if amount != price:
            problems.append(f"claim {row.get('id')} of {claim} cost {amount}, its cumulative-rounded price is {price}")
        sold, paid = sold + claim, paid + amount
        if row.get("status") != wanted:
            problems.append(f"{status} but claim {row.get('id')} is {row.get('status')} (expected {wanted})")
    if (sold, paid) != (int(invoice.get("fundedClaim") or 0), int(invoice.get("paidIn") or 0)):
        problems.append(f"claims {sold} for {paid}, the invoice says fundedClaim {invoice.get('fundedClaim')} "
                        f"paidIn {invoice.get('paidIn')}")
    if status in INVESTMENT_STATUS and (sold, paid, int(invoice.get("fundedAmount") or 0)) != (face, ask, ask):
        problems.append(f"{status} with claims {sold} of {face} sold for {paid} (fundedAmount "
                        f"{invoice.get('fundedAmount')}, askAmount {ask})")
    return problems


def _leg_problems(snap: Snapshot, legs: dict[tuple[str, str, str], int]) -> list[str]:
    """Each movement of an invoice in a final status moved its amount once, one debit and its credit:
    the funding (the price minus the fee to the seller, the fee to platform:fees), the repayments (what
    was received), and for a fractional invoice every claim bought (and, cancelled or expired, refunded)."""
    invoice = snap.invoice
    invoice_id = invoice["id"]
    funded = int(invoice.get("fundedAmount") or 0)
    fee = int(invoice.get("platformFee") or 0)
    received = int(invoice.get("received") or 0)
    wanted = {"funding": funded - fee, "fee": fee, "repayment": received}
    if snap.fractional:
        wanted["claim_purchase"] = sum(int(row.get("amount") or 0) for row in snap.investments)
        wanted["claim_refund"] = sum(int(row.get("amount") or 0) for row in snap.investments
                                     if row.get("status") == "refunded")
    problems = []
    for kind, amount in wanted.items():
        debit, credit = legs.get((invoice_id, kind, "debit"), 0), legs.get((invoice_id, kind, "credit"), 0)
        if debit != amount or credit != amount:
            problems.append(f"invoice {invoice_id}: {kind} legs debit {debit} credit {credit}, expected {amount} each")
    return problems
