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


def parse_stream_id(raw: str) -> Order | None:
    """``(ms, seq)`` of a stream id such as 1732412345678-0; ``None`` if it is not one Redis could hold."""
    match = _STREAM_ID.fullmatch(raw)
    if match is None:
        return None
    milliseconds, sequence = int(match[1]), int(match[2])
    if milliseconds > _UINT64_MAX or sequence > _UINT64_MAX:
        return None
    return milliseconds, sequence


def page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return PAGE_SIZE_DEFAULT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise DomainError(Outcome.INVALID_QUERY, f"limit must be an integer from 1 to {PAGE_SIZE_MAX}")
    return int(raw)


def stream_cursor(raw: str | None, field: str = "before") -> str:
    """A Redis stream entry id such as 1732412345678-0, or '' for none."""
    if raw is None or raw == "":
        return ""
    # 0-0 is below every entry: nothing comes before it, and Redis refuses it as an exclusive end
    if parse_stream_id(raw) in (None, (0, 0)):
        raise DomainError(Outcome.INVALID_QUERY, f"{field} must be a stream id such as 1732412345678-0")
    return raw


def score_cursor(raw: str | None) -> tuple[str, str]:
    """(score, member) of a sorted-set cursor 'score:member', or ('', '') for none."""
    if raw is None or raw == "":
        return "", ""
    if not _SCORE_CURSOR.fullmatch(raw):
        raise DomainError(Outcome.INVALID_QUERY, "cursor is not one this server issued")
    score, _, member = raw.partition(":")
    return score, member


def optional_int(raw: str | None, field: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not _INTEGER.fullmatch(raw):
        raise DomainError(Outcome.INVALID_QUERY, f"{field} must be an integer")
    return int(raw)
