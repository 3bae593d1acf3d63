"""Request and response shapes: strict decoding of bodies and the OpenAPI document.

Requests decode strictly (msgspec): a string is not a number, a float or a boolean is not an integer,
unknown and missing fields are refused. Amounts are ``int`` paise; their range is the domain's check.
"""

from __future__ import annotations

import msgspec


class Request(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    pass


class RegisterRequest(Request):
    name: str
    email: str
    password: str
    role: str
    company: str | None = None


class LoginRequest(Request):
    email: str
    password: str


class AmountRequest(Request):
    amount: int


class CreateInvoiceRequest(Request):
    invoice_number: str
    buyer_id: str
    amount: int
    ask_amount: int
    due_date: str
    description: str | None = None


class ReadUpToRequest(Request):
    up_to: str


class EmptyRequest(Request):
    """Routes without a body accept none, or ``{}``."""


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
    funded_at: str | None
    repaid_at: str | None


class InvoiceEnvelope(Response):
    invoice: InvoiceOut


class InvoicesOut(Response):
    invoices: list[InvoiceOut]
    next_cursor: str | None


class InvestmentOut(Response):
    id: str
    invoice_id: str
    investor_id: str
    amount: int
    expected_return: int
    profit: int
    status: str
    created_at: str


class FundOut(Response):
    invoice: InvoiceOut
    investment: InvestmentOut
    wallet: WalletOut


class ErrorBody(Response):
    code: str
    message: str


class ErrorOut(Response):
    error: ErrorBody
