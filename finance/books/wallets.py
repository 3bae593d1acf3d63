"""Wallets: balance, deposits and withdrawals on simulated bank rails, and the transaction history."""

from __future__ import annotations

from finance.auth.users import User
from finance.books.money import CURRENCY, require_amount
from finance.market import Market
from finance.scripts import Idempotency, Reply
from finance.stream_ids import ZERO_ID


async def balance(market: Market, user_id: str) -> dict[str, object]:
    raw = await market.redis.hget(market.keys.wallet(user_id), "balance")
    return {"balance": int(raw or 0), "currency": CURRENCY}


async def deposit(market: Market, user: User, amount: object, idempotency: Idempotency | None = None) -> Reply:
    paise = require_amount(amount)
    return await market.scripts.deposit_funds(user_id=user.id, session_key=user.session_key, amount=paise,
                                              now=market.clock.now(), idempotency=idempotency)


async def withdraw(market: Market, user: User, amount: object, idempotency: Idempotency | None = None) -> Reply:
    paise = require_amount(amount)
    return await market.scripts.withdraw_funds(user_id=user.id, session_key=user.session_key, amount=paise,
                                               now=market.clock.now(), idempotency=idempotency)


async def transactions(market: Market, user_id: str, before: str = "", limit: int = 20) -> Reply:
    """Newest first; ``before`` is the ``nextCursor`` of the previous page (a ledger entry id)."""
    if before == ZERO_ID:  # nothing comes before it (and Redis refuses it as an exclusive end)
        return Reply('{"transactions":[],"nextCursor":null}')
    return await market.scripts.list_transactions(account_id=user_id, before=before, limit=limit)
