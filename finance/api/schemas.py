"""Request and response shapes: strict decoding of bodies and the OpenAPI document.

Requests decode strictly (msgspec): a string is not a number, a fraction or a boolean is not an integer,
unknown and missing fields are refused (400). Amounts are ``int`` paise; their range and the other
constraints are the domain's checks (422), so they are written into the document with ``documented``
(JSON Schema only, not enforced at decoding) and must say exactly what the domain checks.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec

from finance.auth.emails import EMAIL_LENGTH_MAX, EMAIL_SENT_PATTERN
from finance.auth.users import NAME_LENGTH_MAX, PASSWORD_LENGTH_MAX, PASSWORD_LENGTH_MIN, Role
from finance.books.money import AMOUNT_MAX
from finance.stream_ids import STREAM_ID_PATTERN
from finance.text import NON_SPACE_PATTERN

INVOICE_ID_PATTERN = "^inv_[0-9a-f]{20}$"  # finance/ids.py
BID_ID_PATTERN = "^bid_[0-9a-f]{20}$"
USER_ID_PATTERN = "^usr_[0-9a-f]{20}$"
IDEMPOTENCY_KEY_PATTERN = "^[\\x21-\\x7e]{1,255}$"
SCORE_CURSOR_PATTERN = "^-?[0-9]{1,16}:[A-Za-z0-9_]{1,64}$"
INVOICE_STATUSES = ("pending_acceptance", "listed", "funded", "overdue", "repaid", "defaulted", "recovered",
                    "cancelled", "rejected", "expired")
SORTS = ("newest", "amount", "dueDate")


def documented(**schema: Any) -> msgspec.Meta:
    """A constraint for the document only: the domain checks it and answers 422 (or 400 for queries)."""
    return msgspec.Meta(extra_json_schema=schema)


Amount = Annotated[int, documented(minimum=1, maximum=AMOUNT_MAX, description="paise")]
Instant = Annotated[str, documented(format="date-time", description="ISO 8601 with a zone, e.g. 2027-01-31T00:00:00Z")]


class Request(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    pass


Name = Annotated[str, documented(minLength=1, maxLength=NAME_LENGTH_MAX, pattern=NON_SPACE_PATTERN)]


class RegisterRequest(Request):
    name: Name
    # finance/auth/emails.py: surrounding spaces are dropped (the length counts them); matched without regard to case
    email: Annotated[str, documented(pattern=EMAIL_SENT_PATTERN, maxLength=EMAIL_LENGTH_MAX)]
    password: Annotated[str, documented(minLength=PASSWORD_LENGTH_MIN, maxLength=PASSWORD_LENGTH_MAX)]
    role: Annotated[str, documented(enum=[role.value for role in Role])]
    company: Annotated[str, documented(maxLength=NAME_LENGTH_MAX)] | None = None


class LoginRequest(Request):
    email: str
    password: str


class AmountRequest(Request):
    amount: Amount


class CreateInvoiceRequest(Request):
    invoice_number: Annotated[str, documented(minLength=1, maxLength=64, pattern=NON_SPACE_PATTERN)]
    buyer_id: str
    amount: Amount
    ask_amount: Amount
    due_date: Instant
    description: Annotated[str, documented(maxLength=1_000)] | None = None
    min_ticket: Annotated[int, documented(minimum=1, maximum=AMOUNT_MAX, description=(
        "makes the invoice fractional: the smallest claim (paise of face value, 1..amount) an investor may buy"))
    ] | None = None
    funding_deadline: Annotated[str, documented(format="date-time", description=(
        "fractional only: not sold in full by then, it expires and every claim is refunded (default dueDate)"))
    ] | None = None


class FundRequest(Request):
    """Exactly one of the two: ``amount`` buys a whole invoice, ``claim`` a part of a fractional one."""

    # merged into the document's schema of this body (finance/api/openapi.py)
    SCHEMA: ClassVar[dict[str, Any]] = {"oneOf": [{"required": ["amount"]}, {"required": ["claim"]}]}
    amount: Annotated[int, documented(minimum=1, maximum=AMOUNT_MAX, description=(
        "a whole invoice: the price, askAmount..amount, paise"))] | msgspec.UnsetType = msgspec.UNSET
    claim: Annotated[int, documented(minimum=1, maximum=AMOUNT_MAX, description=(
        "a fractional invoice: paise of face value, minTicket..remainingClaim (or exactly the remainder)"))
    ] | msgspec.UnsetType = msgspec.UNSET

    def chosen(self) -> tuple[int | None, int | None]:
        """(amount, claim), None where absent."""
        return (None if self.amount is msgspec.UNSET else self.amount,
                None if self.claim is msgspec.UNSET else self.claim)


class RejectRequest(Request):
    reason: Annotated[str, documented(minLength=1, maxLength=500, pattern=NON_SPACE_PATTERN,
                                      description="why, for the seller")]


class RepayRequest(Request):
    amount: Amount | None = None


class BidRequest(Request):
    amount: Amount
    valid_until: Annotated[str | None, documented(format="date-time", description="not after the due date")] = None


class ReadUpToRequest(Request):
    up_to: Annotated[str, documented(pattern=STREAM_ID_PATTERN)]


class EmptyRequest(Request):
    """Routes without a body accept none, or ``{}``."""


# Query strings, for the document only (the routes parse request.args with finance/pages.py)
class Query(msgspec.Struct, rename="camel"):
    pass


Limit = Annotated[int, documented(minimum=1, maximum=100, description="page size")]


class MarketplaceQuery(Query):
    min_amount: Annotated[int, documented(minimum=0, maximum=AMOUNT_MAX)] = 0
    max_amount: Annotated[int, documented(minimum=0, maximum=AMOUNT_MAX)] = AMOUNT_MAX
    due_after: Instant = ""
    due_before: Instant = ""
    seller_id: str = ""
    buyer_id: str = ""
    sort: Annotated[str, documented(enum=list(SORTS))] = "newest"
    limit: Limit = 20
    cursor: Annotated[str, documented(pattern=SCORE_CURSOR_PATTERN, description="the previous nextCursor")] = ""


class OwnInvoicesQuery(Query):
    status: Annotated[str, documented(enum=list(INVOICE_STATUSES))] = ""
    limit: Limit = 20
    cursor: Annotated[str, documented(pattern=SCORE_CURSOR_PATTERN, description="the previous nextCursor")] = ""


class ScorePageQuery(Query):
    limit: Limit = 20
    cursor: Annotated[str, documented(pattern=SCORE_CURSOR_PATTERN, description="the previous nextCursor")] = ""


class BuyersQuery(Query):
    q: Annotated[str, documented(maxLength=200, description="the start of the buyer's name, any case")] = ""
    limit: Limit = 20


class StreamPageQuery(Query):
    limit: Limit = 20
    before: Annotated[str, documented(pattern=STREAM_ID_PATTERN, description="the previous nextCursor")] = ""


# Response shapes, for the OpenAPI document (responses are written by the Lua scripts and passed through).
class Response(msgspec.Struct, rename="camel"):
    pass


class UserOut(Response):
    id: str
    name: str
    email: str
    role: str
    company: str | None
    created_at: str


class SessionOut(Response):
    user: UserOut
    token: str


class ProfileOut(Response):
    user: UserOut


class WalletOut(Response):
    balance: int
    currency: str


class TransactionOut(Response):
    id: str
    type: str
    amount: int
    balance_after: int
    description: str
    invoice_id: str | None
    created_at: str


class WalletMoveOut(Response):
    wallet: WalletOut
    transaction: TransactionOut


class TransactionsOut(Response):
    transactions: list[TransactionOut]
    next_cursor: str | None


class InvoiceOut(Response):
    id: str
    invoice_number: str
    seller_id: str
    seller: str
    buyer_id: str
    buyer: str
    amount: int
    ask_amount: int
    currency: str
    due_date: str
    status: str
    description: str
    created_at: str
    investor_id: str | None
    funded_amount: int | None
    expected_return: int | None
    profit: int | None
    platform_fee: Annotated[int | None, documented(description="paise kept by the platform at funding")]
    received: Annotated[int | None, documented(description="paid by the buyer so far (null until funded)")]
    outstanding: Annotated[int | None, documented(description="what the buyer still owes (null until funded)")]
    min_ticket: Annotated[int | None, documented(description="fractional invoices: the smallest claim, paise")]
    funding_deadline: Annotated[str | None, documented(description="fractional invoices: sold in full by then")]
    funded_claim: Annotated[int | None, documented(description="fractional invoices: face value sold so far")]
    remaining_claim: Annotated[int | None, documented(description="fractional invoices: face value still on sale")]
    accept_by: Annotated[str | None, documented(description="BUYER_ACCEPTANCE=required: the buyer's deadline")]
    accepted_at: str | None
    rejection_reason: str | None
    funded_at: str | None
    repaid_at: str | None


class InvoiceEnvelope(Response):
    invoice: InvoiceOut


class InvoicesOut(Response):
    invoices: list[InvoiceOut]
    next_cursor: str | None


INVESTMENT_STATUSES = ("reserved", "active", "settled", "defaulted", "recovered", "refunded")


class InvestmentOut(Response):
    id: str
    invoice_id: str
    investor_id: str
    claim: Annotated[int, documented(description="face value held, paise (the whole amount for a whole invoice)")]
    amount: Annotated[int, documented(description="the price paid, paise")]
    expected_return: int
    profit: int
    received: Annotated[int, documented(description="repaid to this holding so far, paise")]
    status: Annotated[str, documented(enum=list(INVESTMENT_STATUSES))]
    created_at: str


class FundOut(Response):
    invoice: InvoiceOut
    investment: InvestmentOut
    wallet: WalletOut


class RepayOut(Response):
    invoice: InvoiceOut
    investment: Annotated[InvestmentOut | None, documented(description="a whole invoice's one investment; "
                                                                       "null for a fractional one")]
    wallet: WalletOut


class BidOut(Response):
    id: str
    invoice_id: str
    investor_id: str
    investor: str
    amount: int
    discount_rate_bps: Annotated[int, documented(description="annualised discount to the due date, basis points")]
    valid_until: str | None
    status: Annotated[str, documented(enum=["pending", "accepted", "rejected", "withdrawn", "refunded", "expired"])]
    created_at: str
    updated_at: str


class BidWalletOut(Response):
    bid: BidOut
    wallet: WalletOut


class BidsOut(Response):
    bids: list[BidOut]


class AcceptedBidOut(Response):
    invoice: InvoiceOut
    investment: InvestmentOut
    bid: BidOut


class LimitOut(Response):
    buyer_id: str
    buyer: str
    amount: Annotated[int, documented(description="the most you may have outstanding on the buyer, paise")]
    exposure: Annotated[int, documented(description="claims funded and not repaid, plus pending bids, paise")]


class LimitEnvelope(Response):
    limit: LimitOut


class LimitsOut(Response):
    limits: list[LimitOut]


class BuyerOut(Response):
    id: str
    name: Annotated[str, documented(description="display name: company, else name")]


class BuyersOut(Response):
    buyers: list[BuyerOut]


class PortfolioItemOut(InvestmentOut):
    invoice: InvoiceOut


class PortfolioTotalsOut(Response):
    invested: int
    expected_return: int
    profit: int
    realized: int
    realized_profit: int
    active: int
    reserved: int
    count: int
    defaulted: int


class PortfolioOut(Response):
    investments: list[PortfolioItemOut]
    next_cursor: str | None
    totals: PortfolioTotalsOut


class DashboardOut(Response):
    role: str
    stats: dict[str, int]
    wallet: WalletOut
    series: list[dict[str, str | int]]


class NotificationOut(Response):
    id: str
    event: str
    data: dict[str, Any]
    created_at: str
    read: bool


class NotificationsOut(Response):
    notifications: list[NotificationOut]
    unread: int
    next_cursor: str | None


class ReadMarkerOut(Response):
    read_up_to: str | None
    unread: int


class HealthOut(Response):
    status: str
    redis: str


class ErrorBody(Response):
    code: str
    message: str


class ErrorOut(Response):
    error: ErrorBody
