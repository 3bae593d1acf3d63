"""Redis stream entry ids, the one place that reads and writes them: ``<milliseconds>-<sequence>``,
ordered as a pair of integers (``Order``). Used by the REST pages of streams (transactions,
notifications) and by the WebSocket's ``since``, replay and fan-out."""

from __future__ import annotations

import re
from typing import Final

from finance.outcomes import DomainError, Outcome

Order = tuple[int, int]
ZERO: Final[Order] = (0, 0)  # below every entry
ZERO_ID: Final = "0-0"
_PART = "[0-9]{1,20}"  # ASCII digits only, as Redis reads them
_STREAM_ID = re.compile(f"({_PART})-({_PART})")
STREAM_ID_PATTERN: Final = f"^{_PART}-{_PART}$"  # the same, for the OpenAPI document
_UINT64_MAX = 2**64 - 1  # Redis keeps each part of an entry id as an unsigned 64-bit integer


def parse_stream_id(raw: str, *, clamp: bool = False) -> Order | None:
    """``(ms, seq)`` of a stream id such as 1732412345678-0; ``None`` if it is not one Redis could hold.
    ``clamp``: a part above Redis's 64-bit range reads as the largest (a bound past every entry)."""
    match = _STREAM_ID.fullmatch(raw)
    if match is None:
        return None
    milliseconds, sequence = int(match[1]), int(match[2])
    if milliseconds > _UINT64_MAX or sequence > _UINT64_MAX:
        if not clamp:
            return None
        milliseconds, sequence = min(milliseconds, _UINT64_MAX), min(sequence, _UINT64_MAX)
    return milliseconds, sequence


def order_of(entry_id: str) -> Order:
    """The order of an id Redis produced (trusted; no validation)."""
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def id_of(order: Order) -> str:
    return f"{order[0]}-{order[1]}"


def exclusive(entry_id: str) -> str:
    """A range bound that leaves ``entry_id`` itself out (XRANGE's ``(``)."""
    return "(" + entry_id


def cursor_order(raw: str | None, field: str = "before", *, clamp: bool = True) -> Order | None:
    """A cursor that is a stream id (``clamp``: parts past Redis's range read as its end); None when
    absent; else invalid_query."""
    if raw is None:
        return None
    order = parse_stream_id(raw, clamp=clamp)
    if order is None:
        raise DomainError(Outcome.INVALID_QUERY, f"{field} must be a stream id such as 1732412345678-0")
    return order


def stream_cursor(raw: str | None, field: str = "before") -> str:
    """``cursor_order`` written back as an id, or '' for none. 0-0 is below every entry: the page before
    it is empty."""
    order = cursor_order(raw, field)
    return "" if order is None else id_of(order)
