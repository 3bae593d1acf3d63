"""The one vocabulary of error codes: every code the API or the WebSocket answers is an ``Outcome``.

The Lua scripts return these codes as their first reply element; the HTTP layer answers with the
others (a body that is not JSON, Redis away); ``finance.api.errors`` maps each to its HTTP status in
one table, and docs/api.md lists them all (a test holds the three together). Listed roughly in order
of precedence.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    # a request the server could not read (400), a route or method it does not have (404, 405)
    MALFORMED_JSON = "malformed_json"
    INVALID_REQUEST = "invalid_request"
    INVALID_QUERY = "invalid_query"
    INVALID_IDEMPOTENCY_KEY = "invalid_idempotency_key"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"  # any other refusal of the HTTP layer, with the layer's own status
    # input that is well-formed but unacceptable (422)
    INVALID_FIELD = "invalid_field"
    INVALID_AMOUNT = "invalid_amount"
    AMOUNT_OUT_OF_RANGE = "amount_out_of_range"
    CLAIM_OUT_OF_RANGE = "claim_out_of_range"
    FRACTIONAL_INVOICE = "fractional_invoice"
    INVOICE_NOT_FRACTIONAL = "invoice_not_fractional"
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
    BID_NOT_FOUND = "bid_not_found"
    LIMIT_NOT_FOUND = "limit_not_found"
    # state conflicts (409)
    EMAIL_TAKEN = "email_taken"
    DUPLICATE_INVOICE = "duplicate_invoice"
    INVOICE_NOT_LISTED = "invoice_not_listed"
    INVOICE_NOT_REPAYABLE = "invoice_not_repayable"
    INVOICE_PAST_DUE = "invoice_past_due"
    FUNDING_DEADLINE_PASSED = "funding_deadline_passed"
    INVOICE_NOT_PENDING_ACCEPTANCE = "invoice_not_pending_acceptance"
    ACCEPTANCE_WINDOW_CLOSED = "acceptance_window_closed"
    BID_NOT_PENDING = "bid_not_pending"
    BID_EXPIRED = "bid_expired"
    BID_LIMIT_REACHED = "bid_limit_reached"
    EXPOSURE_LIMIT_EXCEEDED = "exposure_limit_exceeded"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    BALANCE_LIMIT_EXCEEDED = "balance_limit_exceeded"
    # too many login or register attempts (429, with Retry-After)
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    # the data store is away (503, with Retry-After); a bug (500, logged)
    REDIS_UNAVAILABLE = "redis_unavailable"
    # REPLICA_ACKS: the movement was made but too few replicas confirmed it in time (503); the same
    # request with the same Idempotency-Key answers the first result and moves nothing again
    REPLICATION_UNCONFIRMED = "replication_unconfirmed"
    INTERNAL_ERROR = "internal_error"
    # answered in a WebSocket error frame to a client frame; the connection stays open
    MALFORMED_FRAME = "malformed_frame"
    UNKNOWN_TYPE = "unknown_type"
    FRAME_TOO_LARGE = "frame_too_large"


# the outcomes that are never an HTTP answer
FRAME_OUTCOMES = frozenset({Outcome.MALFORMED_FRAME, Outcome.UNKNOWN_TYPE, Outcome.FRAME_TOO_LARGE})
# the one outcome without a status of its own: it carries the HTTP layer's (408, 431, ...)
LAYER_OUTCOMES = frozenset({Outcome.HTTP_ERROR})


class DomainError(Exception):
    """A refusal with a named outcome; never a bug."""

    def __init__(self, outcome: Outcome, message: str, details: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.details = details or {}
