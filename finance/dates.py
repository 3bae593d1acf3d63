"""Parsing the dates clients send. Every time we return is ISO 8601 UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from finance.outcomes import DomainError, Outcome

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# what we can write back as ISO 8601: years 1..9999 once converted to UTC
_INSTANT_MS_MIN = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)
_INSTANT_MS_MAX = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC) - _EPOCH) // timedelta(milliseconds=1)


def parse_instant_ms(raw: str, field: str, outcome: Outcome = Outcome.INVALID_FIELD) -> int:
    """Epoch ms of an ISO 8601 date ('2027-01-31', midnight UTC) or date-time with a zone ('Z', '+05:30')."""
    text = raw.strip()
    try:
        if len(text) == 10:
            moment = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                raise DomainError(outcome, f"{field} needs a time zone, e.g. 2027-01-31T00:00:00Z")
    except ValueError:
        raise DomainError(outcome, f"{field} must be an ISO 8601 date, e.g. 2027-01-31T00:00:00Z") from None
    epoch_ms = (moment - _EPOCH) // timedelta(milliseconds=1)
    if not _INSTANT_MS_MIN <= epoch_ms <= _INSTANT_MS_MAX:
        raise DomainError(outcome, f"{field} must fall in the years 1 to 9999 in UTC")
    return epoch_ms
