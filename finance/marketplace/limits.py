"""Investor exposure limits (DESIGN 9.6): the most an investor may have outstanding on one buyer's
invoices. The money scripts keep the exposure (``Keys.exposure``) and check the limit atomically with
each fund and bid; setting a limit is one write, so it needs no script."""

from __future__ import annotations

from typing import Any

from finance.auth.users import Role, User, require_role
from finance.books.money import require_amount
from finance.market import Market
from finance.outcomes import DomainError, Outcome


async def _buyer_name(market: Market, buyer_id: str) -> str:
    role, name = await market.redis.hmget(market.keys.user(buyer_id), ["role", "displayName"])
    if role != Role.BUYER.value:
        raise DomainError(Outcome.INVALID_BUYER, "buyerId does not name a registered buyer")
    return str(name)


async def _row(market: Market, investor: User, buyer_id: str, amount: int, name: str) -> dict[str, Any]:
    exposure = await market.redis.hget(market.keys.exposure(investor.id), buyer_id)
    return {"buyerId": buyer_id, "buyer": name, "amount": amount, "exposure": int(exposure or 0)}


async def set_limit(market: Market, investor: User, buyer_id: str, amount: object) -> dict[str, Any]:
    """Sets (or replaces) the limit; a limit below the current exposure only stops new funding."""
    require_role(investor, Role.INVESTOR)
    paise = require_amount(amount)
    name = await _buyer_name(market, buyer_id)
    await market.redis.hset(market.keys.limits(investor.id), buyer_id, paise)
    return {"limit": await _row(market, investor, buyer_id, paise, name)}


async def remove_limit(market: Market, investor: User, buyer_id: str) -> None:
    require_role(investor, Role.INVESTOR)
    if not await market.redis.hdel(market.keys.limits(investor.id), buyer_id):
        raise DomainError(Outcome.LIMIT_NOT_FOUND, "you have no limit on this buyer")


async def list_limits(market: Market, investor: User) -> dict[str, Any]:
    """``{limits: [{buyerId, buyer, amount, exposure}]}``, by buyer id."""
    require_role(investor, Role.INVESTOR)
    keys = market.keys
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.hgetall(keys.limits(investor.id))
        pipe.hgetall(keys.exposure(investor.id))
        limits, exposure = await pipe.execute()
    buyers = sorted(limits)
    async with market.redis.pipeline(transaction=False) as pipe:  # every name in one round trip
        for buyer_id in buyers:
            pipe.hget(keys.user(buyer_id), "displayName")
        names = await pipe.execute()
    rows = zip(buyers, names, strict=True)
    return {"limits": [{"buyerId": buyer_id, "buyer": name or "", "amount": int(limits[buyer_id]),
                        "exposure": int(exposure.get(buyer_id, 0))} for buyer_id, name in rows]}
