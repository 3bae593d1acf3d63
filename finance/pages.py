"""Page sizes and cursors of list endpoints, checked before they reach a script."""

from __future__ import annotations

import re

from finance.outcomes import DomainError, Outcome

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
# ASCII only: str.isdigit and \d accept other scripts' digits, which Redis does not
_DIGITS = re.compile(r"[0-9]{1,20}")
_STREAM_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
# a stream entry id "<milliseconds>-<sequence>", ordered as a pair of integers
Order = tuple[int, int]
_SCORE_CURSOR = re.compile(r"-?[0-9]{1,16}:[A-Za-z0-9_]{1,64}")
_INTEGER = re.compile(r"-?[0-9]{1,16}")
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


def page_size(raw: str | None) -> int:
    """None (absent) is the default; anything else, an empty value included, must be 1..100."""
    if raw is None:
        return PAGE_SIZE_DEFAULT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise DomainError(Outcome.INVALID_QUERY, f"limit must be an integer from 1 to {PAGE_SIZE_MAX}")
    return int(raw)


def stream_cursor(raw: str | None, field: str = "before") -> str:
    """A Redis stream entry id such as 1732412345678-0 (clamped to Redis's range), or '' for none (absent).
    0-0 is below every entry: the page before it is empty."""
    if raw is None:
        return ""
    order = parse_stream_id(raw, clamp=True)
    if order is None:
        raise DomainError(Outcome.INVALID_QUERY, f"{field} must be a stream id such as 1732412345678-0")
    return f"{order[0]}-{order[1]}"


def score_cursor(raw: str | None) -> tuple[str, str]:
    """(score, member) of a sorted-set cursor 'score:member', or ('', '') for none (absent)."""
    if raw is None:
        return "", ""
    if not _SCORE_CURSOR.fullmatch(raw):
        raise DomainError(Outcome.INVALID_QUERY, "cursor is not one this server issued")
    score, _, member = raw.partition(":")
    return score, member


def optional_int(raw: str | None, field: str, low: int, high: int) -> int | None:
    if raw is None:
        return None
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise DomainError(Outcome.INVALID_QUERY, f"{field} must be an integer from {low} to {high}")
    return int(raw)
