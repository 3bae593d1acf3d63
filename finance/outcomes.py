"""Named outcomes of domain operations.

The Lua scripts return these codes as their first reply element; ``Outcome`` mirrors them and
``finance.api.errors`` maps each to its HTTP status in one table. Listed roughly in order of precedence.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    # input that is well-formed but unacceptable (422)
    INVALID_QUERY = "invalid_query"
    INVALID_FIELD = "invalid_field"
    INVALID_AMOUNT = "invalid_amount"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    ASK_ABOVE_AMOUNT = "ask_above_amount"
    DUE_DATE_NOT_IN_FUTURE = "due_date_not_in_future"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    INVALID_BUYER = "invalid_buyer"
    # who you are (401) and what you may do (403)
    UNAUTHORIZED = "unauthorized"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    OWN_INVOICE = "own_invoice"
    # unknown (404)
    INVOICE_NOT_FOUND = "invoice_not_found"
    # state conflicts (409)
    EMAIL_TAKEN = "email_taken"
    DUPLICATE_INVOICE = "duplicate_invoice"
    INVOICE_NOT_LISTED = "invoice_not_listed"
    INVOICE_NOT_REPAYABLE = "invoice_not_repayable"
    INVOICE_PAST_DUE = "invoice_past_due"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BALANCE_LIMIT_EXCEEDED = "balance_limit_exceeded"
    # too many login or register attempts (429, with Retry-After)
    TOO_MANY_ATTEMPTS = "too_many_attempts"


class DomainError(Exception):
    """A refusal with a named outcome; never a bug."""

    def __init__(self, outcome: Outcome, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.details = details or {}
