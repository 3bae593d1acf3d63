"""Money is an integer number of paise. No floats anywhere on the money path."""

from __future__ import annotations

from finance.outcomes import DomainError, Outcome

CURRENCY = "INR"
# every figure stays exact in Lua's doubles (2**53 > 9 * 10**15); balances have the same cap, kept
# by the scripts (BALANCE_MAX in lua/lib/prelude.lua)
AMOUNT_MAX = 10**15


def require_amount(value: object, field: str = "amount") -> int:
    """The value as a positive amount in paise; refuses bools, floats, strings, <= 0 and > 10**15."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(Outcome.INVALID_AMOUNT, f"{field} must be an integer number of paise")
    if value <= 0:
        raise DomainError(Outcome.INVALID_AMOUNT, f"{field} must be greater than zero")
    if value > AMOUNT_MAX:
        raise DomainError(Outcome.INVALID_AMOUNT, f"{field} must be at most {AMOUNT_MAX} paise")
    return value
