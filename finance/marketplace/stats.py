"""Dashboard and portfolio, read from the counters the scripts keep (never by scanning keys)."""

from __future__ import annotations

from datetime import date, timedelta

from finance.auth.users import Role, User, require_role
from finance.books.money import CURRENCY
from finance.market import Market
from finance.scripts import Reply

SERIES_DAYS = 30

# role -> (counters shown, daily metrics charted)
COUNTERS: dict[Role, tuple[list[str], list[str]]] = {
    Role.SELLER: (
        ["listedCount", "listedAmount", "fundedCount", "raisedAmount", "repaidCount", "cancelledCount",
         "cancelledAmount"],
        ["listed", "raised"],
    ),
    Role.INVESTOR: (
        ["investmentCount", "investedAmount", "expectedReturn", "settledCount", "settledAmount", "realizedReturn",
         "realizedProfit", "defaultedCount", "defaultedAmount", "defaultedReturn", "recoveredCount",
         "recoveredAmount", "reservedCount", "reservedAmount"],
        ["invested", "returned"],
    ),
    Role.BUYER: (
        ["invoiceCount", "invoiceAmount", "repaidCount", "repaidAmount", "cancelledCount", "cancelledAmount",
         "defaultedCount", "defaultedAmount", "recoveredAmount"],
        ["repaid"],
    ),
}


async def dashboard(market: Market, user: User) -> dict[str, object]:
    counters, metrics = COUNTERS[user.role]
    today = date.fromisoformat(market.clock.now().day)
    days = [(today - timedelta(days=back)).isoformat() for back in range(SERIES_DAYS - 1, -1, -1)]
    fields = [f"{day}:{metric}" for day in days for metric in metrics]
    async with market.redis.pipeline(transaction=False) as pipe:
        pipe.hgetall(market.keys.stats(user.id))
        pipe.hmget(market.keys.daily(user.id), fields)
        pipe.hget(market.keys.wallet(user.id), "balance")
        stats, daily, balance = await pipe.execute()
    totals = {name: int(stats.get(name, 0)) for name in counters}
    if user.role is Role.INVESTOR:
        totals |= _investor_derived(totals)
    if user.role is Role.BUYER:
        totals["outstandingAmount"] = (
            totals["invoiceAmount"] - totals["repaidAmount"] - totals["cancelledAmount"] - totals["defaultedAmount"]
        )
    values = iter(daily)
    series = [{"date": day, **{metric: int(next(values) or 0) for metric in metrics}} for day in days]
    return {
        "role": user.role.value,
        "stats": totals,
        "wallet": {"balance": int(balance or 0), "currency": CURRENCY},
        "series": series,
    }


def _investor_derived(counters: dict[str, int]) -> dict[str, int]:
    """What the scripts do not count because it follows from what they do: fewer writes per funding.
    A defaulted investment expects nothing any more: its face value and its cost leave the expectation.
    A reserved claim (a fractional invoice not yet full) is counted apart from the active investments:
    it becomes active when the invoice fills, or is refunded (and leaves every figure) when it expires."""
    return {
        "expectedProfit": (counters["expectedReturn"] - counters["defaultedReturn"])
        - (counters["investedAmount"] - counters["defaultedAmount"]),
        "activeCount": counters["investmentCount"] - counters["settledCount"] - counters["defaultedCount"]
        - counters["reservedCount"],
        "activeAmount": counters["investedAmount"] - counters["settledAmount"] - counters["defaultedAmount"]
        - counters["reservedAmount"],
    }


async def portfolio(market: Market, investor: User, cursor: str = "", limit: int = 20) -> tuple[Reply, dict[str, int]]:
    """The investor's investments (newest first, each with its invoice) and totals from the counters."""
    require_role(investor, Role.INVESTOR)
    page = await market.scripts.list_investments(investor_id=investor.id, cursor=cursor, limit=limit)
    stats = await market.redis.hgetall(market.keys.stats(investor.id))
    counters = {name: int(stats.get(name, 0)) for name in COUNTERS[Role.INVESTOR][0]}
    derived = _investor_derived(counters)
    totals = {
        "invested": counters["investedAmount"],
        "expectedReturn": counters["expectedReturn"] - counters["defaultedReturn"],
        "profit": derived["expectedProfit"],
        "realized": counters["realizedReturn"],
        "realizedProfit": counters["realizedProfit"],
        "active": derived["activeAmount"],
        "reserved": counters["reservedAmount"],
        "count": counters["investmentCount"],
        "defaulted": counters["defaultedAmount"],
    }
    return page, totals
