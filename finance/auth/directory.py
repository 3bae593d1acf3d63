"""The buyer directory: sellers pick the buyer of an invoice, and investors the buyer of an exposure
limit, by name rather than by id. Buyers are corporates known to the market, so every signed-in user
may read their ids and display names (nothing else of them)."""

from __future__ import annotations

from finance.market import Market

# a directory entry is "<lower-cased display name>\0<user id>": ZRANGEBYLEX finds a prefix of the name,
# the NUL keeps "acme" before "acme corp", and the id after it keeps two buyers of one name apart
SEPARATOR = "\0"


def entry(display_name: str, user_id: str) -> str:
    return display_name.casefold() + SEPARATOR + user_id


async def buyers(market: Market, prefix: str = "", limit: int = 20) -> list[dict[str, str]]:
    """Buyers whose display name starts with ``prefix`` (any case), by name: ``[{id, name}]``."""
    low = "[" + prefix.casefold() if prefix else "-"
    high = "[" + prefix.casefold() + "\U0010ffff" if prefix else "+"
    entries: list[str] = await market.redis.zrangebylex(market.keys.buyers_by_name(), low, high, 0, limit)
    ids = [found.rpartition(SEPARATOR)[2] for found in entries]
    if not ids:
        return []
    async with market.redis.pipeline(transaction=False) as pipe:
        for user_id in ids:
            pipe.hget(market.keys.user(user_id), "displayName")
        names: list[str | None] = await pipe.execute()
    return [{"id": user_id, "name": name} for user_id, name in zip(ids, names, strict=True) if name is not None]


async def index_buyers(market: Market) -> int:
    """Puts every registered buyer in the directory (for users registered before it existed); safe to run
    again. Returns how many registered buyers it found (each is in the directory afterwards)."""
    user_ids: list[str] = await market.redis.hvals(market.keys.users_by_email())
    entries: dict[str, int] = {}
    for start in range(0, len(user_ids), 500):
        chunk = user_ids[start:start + 500]
        async with market.redis.pipeline(transaction=False) as pipe:
            for user_id in chunk:
                pipe.hmget(market.keys.user(user_id), ["role", "displayName"])
            found: list[list[str | None]] = await pipe.execute()
        for user_id, (role, display_name) in zip(chunk, found, strict=True):
            if role == "buyer" and display_name is not None:
                entries[entry(display_name, user_id)] = 0
    if entries:
        await market.redis.zadd(market.keys.buyers_by_name(), entries)
    return len(entries)
