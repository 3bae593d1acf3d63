"""Notifications: a user's event stream read as a list, newest first, with a last-read marker.

The user stream (capped at ``user_stream_length_max``) is the list; nothing is copied. What the user
has read is one id kept at ``notifications_read``: every entry up to it is read. It only moves forward
and never past the newest entry, so events that arrive later are always unread.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import WatchError

from finance.clock import iso_from_ms
from finance.market import Market
from finance.stream_ids import ZERO, ZERO_ID, Order, exclusive, id_of, order_of, parse_stream_id


def _item(entry_id: str, fields: dict[str, str], last_read: Order | None) -> dict[str, Any]:
    order = order_of(entry_id)
    return {
        "id": entry_id,
        "event": fields.get("event", ""),
        "data": msgspec.Raw(fields.get("data") or "null"),
        "createdAt": iso_from_ms(order[0]),
        "read": last_read is not None and order <= last_read,
    }


async def _unread(redis: Redis, key: str, last_read: Order | None, length: int,
                  oldest: list[Any], newest: list[Any]) -> int:
    if not newest:
        return 0
    if last_read is None or last_read < order_of(oldest[0][0]):
        return length
    if last_read >= order_of(newest[0][0]):
        return 0
    # some read, some not: count what is left (at most the stream's cap)
    entries = await redis.xrange(key, min=exclusive(id_of(last_read)), max="+")
    return len(entries)


async def list_notifications(market: Market, user_id: str, before: Order | None, limit: int) -> dict[str, Any]:
    """``{notifications: [{id, event, data, createdAt, read}], unread, nextCursor}``, newest first."""
    key = market.keys.user_stream(user_id)
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.get(market.keys.notifications_read(user_id))
        # 0-0 is below every entry (and Redis refuses it as an exclusive end): up to it is nothing
        end = "+" if before is None else ZERO_ID if before == ZERO else exclusive(id_of(before))
        pipe.xrevrange(key, max=end, min="-", count=limit + 1)
        pipe.xlen(key)
        pipe.xrange(key, count=1)
        pipe.xrevrange(key, count=1)
        raw_read, entries, length, oldest, newest = await pipe.execute()
    last_read = parse_stream_id(raw_read) if raw_read else None
    page = entries[:limit]
    return {
        "notifications": [_item(entry_id, fields, last_read) for entry_id, fields in page],
        "unread": await _unread(market.redis, key, last_read, length, oldest, newest),
        "nextCursor": page[-1][0] if len(entries) > limit else None,
    }


async def mark_read(market: Market, user_id: str, up_to: Order) -> dict[str, Any]:
    """Marks every notification up to ``up_to`` read (never past the newest one, never backwards).
    Returns ``{readUpTo, unread}``."""
    key = market.keys.user_stream(user_id)
    read_key = market.keys.notifications_read(user_id)
    async with market.redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(read_key)
                raw_read = await pipe.get(read_key)
                newest = await pipe.xrevrange(key, count=1)
                current = parse_stream_id(raw_read) if raw_read else None
                target = min(up_to, order_of(newest[0][0])) if newest else None
                if target is None or (current is not None and target <= current):
                    await pipe.unwatch()
                    break
                pipe.multi()
                pipe.set(read_key, id_of(target))
                await pipe.execute()
                break
            except WatchError:
                continue  # another request moved the marker meanwhile: decide again from its value
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.get(read_key)
        pipe.xlen(key)
        pipe.xrange(key, count=1)
        pipe.xrevrange(key, count=1)
        raw_read, length, oldest, newest = await pipe.execute()
    last_read = parse_stream_id(raw_read) if raw_read else None
    return {"readUpTo": raw_read, "unread": await _unread(market.redis, key, last_read, length, oldest, newest)}
