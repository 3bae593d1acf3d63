"""Page sizes and sorted-set cursors of list endpoints, checked before they reach a script (stream-id
cursors: finance/stream_ids.py)."""

from __future__ import annotations

import re

from finance.outcomes import DomainError, Outcome

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
# ASCII only: str.isdigit and \d accept other scripts' digits, which Redis does not
_DIGITS = re.compile(r"[0-9]{1,20}")
_SCORE_CURSOR = re.compile(r"-?[0-9]{1,16}:[A-Za-z0-9_]{1,64}")
_INTEGER = re.compile(r"-?[0-9]{1,16}")


def page_size(raw: str | None) -> int:
    """None (absent) is the default; anything else, an empty value included, must be 1..100."""
    if raw is None:
        return PAGE_SIZE_DEFAULT
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= PAGE_SIZE_MAX:
        raise DomainError(Outcome.INVALID_QUERY, f"limit must be an integer from 1 to {PAGE_SIZE_MAX}")
    return int(raw)


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
