"""/api/invoices: create, read, the market, the parties' lists, cancel, fund, repay."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from finance import invoices
from finance.api.http import authenticated, idempotency, json_body, market, path_id, reply
from finance.api.schemas import (
    AmountRequest,
    CreateInvoiceRequest,
    EmptyRequest,
    ErrorOut,
    FundOut,
    InvoiceEnvelope,
    InvoicesOut,
)
from finance.outcomes import DomainError, Outcome
from finance.pages import optional_int, page_size
from finance.users import Role, User

blueprint = Blueprint("invoices", __name__, url_prefix="/api/invoices")
STATUSES = {"listed", "funded", "overdue", "repaid", "defaulted", "cancelled"}


@blueprint.post("/create")
@authenticated(Role.SELLER, checked_by_script=True)
@json_body(CreateInvoiceRequest)
@document_response(InvoiceEnvelope, 201)
@document_response(ErrorOut, 409)
async def create(user: User, body: CreateInvoiceRequest) -> Response:
    """List an invoice (status listed). Amounts in paise; askAmount <= amount; dueDate in the future."""
    new = invoices.NewInvoice(body.invoice_number, body.buyer_id, body.amount, body.ask_amount, body.due_date,
                              body.description)
    return reply(await invoices.create(market(), user, new, await idempotency(user)), 201)


@blueprint.get("/marketplace")
@authenticated()
@document_response(InvoicesOut)
async def marketplace(user: User) -> Response:
    """Listed invoices. Filters minAmount, maxAmount, dueAfter, dueBefore, sellerId, buyerId;
    sort newest (default), amount or dueDate; limit 1..100; cursor = the previous page's nextCursor."""
    args = request.args
    page = invoices.MarketFilter(
        min_amount=optional_int(args.get("minAmount"), "minAmount"),
        max_amount=optional_int(args.get("maxAmount"), "maxAmount"),
        due_after=args.get("dueAfter") or None,
        due_before=args.get("dueBefore") or None,
        seller_id=args.get("sellerId", ""),
        buyer_id=args.get("buyerId", ""),
        sort=args.get("sort") or "newest",
        limit=page_size(args.get("limit")),
        cursor=args.get("cursor"),
    )
    return reply(await invoices.marketplace(market(), page))


async def _own(user: User, role: Role) -> Response:
    status = request.args.get("status", "")
    if status and status not in STATUSES:
        raise DomainError(Outcome.INVALID_QUERY, f"status must be one of {', '.join(sorted(STATUSES))}")
    limit = page_size(request.args.get("limit"))
    return reply(await invoices.own(market(), user, role, status, limit, request.args.get("cursor")))


@blueprint.get("/seller")
@authenticated(Role.SELLER)
@document_response(InvoicesOut)
async def seller_invoices(user: User) -> Response:
    """The seller's own invoices, newest first; optional status filter."""
    return await _own(user, Role.SELLER)


@blueprint.get("/investor")
@authenticated(Role.INVESTOR)
@document_response(InvoicesOut)
async def investor_invoices(user: User) -> Response:
    """The invoices the investor funded, newest first; optional status filter."""
    return await _own(user, Role.INVESTOR)


@blueprint.get("/buyer")
@authenticated(Role.BUYER)
@document_response(InvoicesOut)
async def buyer_invoices(user: User) -> Response:
    """The invoices owed by the buyer, newest first; optional status filter."""
    return await _own(user, Role.BUYER)


@blueprint.get("/<invoice_id>")
@authenticated()
@document_response(InvoiceEnvelope)
@document_response(ErrorOut, 404)
async def read(user: User, invoice_id: str) -> Response:
    """One invoice: its parties see it always, anyone while it is listed."""
    return reply(await invoices.get(market(), user, path_id(invoice_id)))


@blueprint.post("/<invoice_id>/fund")
@authenticated(Role.INVESTOR, checked_by_script=True)
@json_body(AmountRequest)
@document_response(FundOut)
@document_response(ErrorOut, 409)
async def fund(user: User, invoice_id: str, body: AmountRequest) -> Response:
    """Fund a listed invoice with askAmount <= amount <= amount (paise). Honours Idempotency-Key."""
    result = await invoices.fund(market(), user, path_id(invoice_id), body.amount, await idempotency(user))
    return reply(result)


@blueprint.post("/<invoice_id>/repay")
@authenticated(Role.BUYER, checked_by_script=True)
@json_body(EmptyRequest)
@document_response(FundOut)
@document_response(ErrorOut, 409)
async def repay(user: User, invoice_id: str, body: EmptyRequest) -> Response:
    """The buyer repays the face value to the investor (funded or overdue). Honours Idempotency-Key."""
    return reply(await invoices.repay(market(), user, path_id(invoice_id), await idempotency(user)))


@blueprint.post("/<invoice_id>/cancel")
@authenticated(Role.SELLER, checked_by_script=True)
@json_body(EmptyRequest)
@document_response(InvoiceEnvelope)
@document_response(ErrorOut, 409)
async def cancel(user: User, invoice_id: str, body: EmptyRequest) -> Response:
    """The seller withdraws a listed invoice. Honours Idempotency-Key."""
    return reply(await invoices.cancel(market(), user, path_id(invoice_id), await idempotency(user)))
