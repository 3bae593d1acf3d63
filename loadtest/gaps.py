"""No gap and no reorder for a socket: each socket's events of a stream, checked against the stream itself.

The client processes keep, per socket and stream, the first and last id received and how many distinct
ids came between (wsclients.decode_results; reorders and duplicates are counted there as they arrive).
Here each span is checked against Redis: the stream must hold exactly that many entries from the first
id to the last. One missing is a gap, whether the socket stayed or was closed later (a socket closed
with 4008 or 1013 loses what was queued, and then gets nothing more: still no gap). A span whose first
id has been trimmed from the stream since cannot be checked and is counted apart.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

import redis

from finance.keys import Keys

Span = tuple[str, str, str, str, int]  # stream ("market" | "user"), user id, first id, last id, count


def _order(entry_id: str) -> tuple[int, int]:
    head, _, tail = entry_id.partition("-")
    return int(head), int(tail or 0)


def check_spans(redis_url: str, spans: list[Span], market: str = "main") -> dict[str, Any]:
    keys = Keys(market)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    orders: dict[str, list[tuple[int, int]]] = {}
    checked = with_gap = unverifiable = 0
    examples: list[dict[str, Any]] = []
    try:
        for stream, user_id, first, last, count in spans:
            key = keys.market_stream() if stream == "market" else keys.user_stream(user_id)
            if key not in orders:
                orders[key] = [_order(entry_id) for entry_id, _ in client.xrange(key)]
            known = orders[key]
            low, high = _order(first), _order(last)
            if not known or low < known[0]:
                unverifiable += 1
                continue
            checked += 1
            expected = bisect_right(known, high) - bisect_left(known, low)
            if expected != count:
                with_gap += 1
                if len(examples) < 5:
                    examples.append({"stream": stream, "first": first, "last": last, "received": count,
                                     "in_stream": expected})
    finally:
        client.close()
    return {"spans_checked": checked, "spans_with_gap": with_gap, "spans_unverifiable": unverifiable,
            "examples": examples}
