"""/api/invoices: create, read, the market, the parties' lists, cancel, fund, repay."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from finance.api.http import authenticated, idempotent, json_body, market, path_id, query, reply
from finance.api.openapi import refuses
from finance.api.schemas import (
    INVOICE_STATUSES,
    CreateInvoiceRequest,
    EmptyRequest,
    FundOut,
    FundRequest,
    InvoiceEnvelope,
    InvoicesOut,
    MarketplaceQuery,
    OwnInvoicesQuery,
    RejectRequest,
    RepayOut,
    RepayRequest,
)
from finance.auth.users import Role, User
from finance.books.money import AMOUNT_MAX
from finance.marketplace import invoices
from finance.outcomes import DomainError, Outcome
from finance.pages import optional_int, page_size
from finance.scripts import Idempotency

blueprint = Blueprint("invoices", __name__, url_prefix="/api/invoices")


@blueprint.post("/create")
@authenticated(Role.SELLER, checked_by_script=True)
@idempotent
@json_body(CreateInvoiceRequest)
@document_response(InvoiceEnvelope, 201)
@refuses(409, 422)
async def create(user: User, body: CreateInvoiceRequest, idempotency: Idempotency | None) -> Response:
    """List an invoice (status listed). Amounts in paise; askAmount <= amount; dueDate in the future."""
    new = invoices.NewInvoice(body.invoice_number, body.buyer_id, body.amount, body.ask_amount, body.due_date,
                              body.description, body.min_ticket, body.funding_deadline)
    return reply(await invoices.create(market(), user, new, idempotency), 201)


@blueprint.get("/marketplace")
@authenticated()
@query(MarketplaceQuery)
@document_response(InvoicesOut)
async def marketplace(user: User) -> Response:
    """Listed invoices. Filters minAmount, maxAmount, dueAfter, dueBefore, sellerId, buyerId;
    sort newest (default), amount or dueDate; limit 1..100; cursor = the previous page's nextCursor."""
    args = request.args
    page = invoices.MarketFilter(
        min_amount=optional_int(args.get("minAmount"), "minAmount", 0, AMOUNT_MAX),
        max_amount=optional_int(args.get("maxAmount"), "maxAmount", 0, AMOUNT_MAX),
        due_after=args.get("dueAfter"),
        due_before=args.get("dueBefore"),
        seller_id=args.get("sellerId", ""),
        buyer_id=args.get("buyerId", ""),
        sort=args.get("sort", "newest"),
        limit=page_size(args.get("limit")),
        cursor=args.get("cursor"),
    )
    return reply(await invoices.marketplace(market(), page))


async def _own(user: User, role: Role) -> Response:
    status = request.args.get("status")
    if status is not None and status not in INVOICE_STATUSES:
        raise DomainError(Outcome.INVALID_QUERY, f"status must be one of {', '.join(INVOICE_STATUSES)}")
    limit = page_size(request.args.get("limit"))
    return reply(await invoices.own(market(), user, role, status or "", limit, request.args.get("cursor")))


@blueprint.get("/seller")
@authenticated(Role.SELLER)
@query(OwnInvoicesQuery)
@document_response(InvoicesOut)
async def seller_invoices(user: User) -> Response:
    """The seller's own invoices, newest first; optional status filter."""
    return await _own(user, Role.SELLER)


@blueprint.get("/investor")
@authenticated(Role.INVESTOR)
@query(OwnInvoicesQuery)
@document_response(InvoicesOut)
async def investor_invoices(user: User) -> Response:
    """The invoices the investor funded, newest first; optional status filter."""
    return await _own(user, Role.INVESTOR)


@blueprint.get("/buyer")
@authenticated(Role.BUYER)
@query(OwnInvoicesQuery)
@document_response(InvoicesOut)
async def buyer_invoices(user: User) -> Response:
    """The invoices owed by the buyer, newest first; optional status filter."""
    return await _own(user, Role.BUYER)


@blueprint.get("/<invoice_id:invoice_id>")
@authenticated()
@document_response(InvoiceEnvelope)
@refuses(404)
async def read(user: User, invoice_id: str) -> Response:
    """One invoice: its parties see it always, anyone while it is listed."""
    return reply(await invoices.get(market(), user, path_id(invoice_id)))


@blueprint.post("/<invoice_id:invoice_id>/fund")
@authenticated(Role.INVESTOR, checked_by_script=True)
@idempotent
@json_body(FundRequest)
@document_response(FundOut)
@refuses(404, 409, 422)
async def fund(user: User, invoice_id: str, body: FundRequest, idempotency: Idempotency | None) -> Response:
    """Buy a listed invoice: a whole one with {amount}, askAmount <= amount <= amount (paise); a claim on a
    fractional one with {claim}, minTicket <= claim <= remainingClaim, or exactly the remainder (its price
    is its cumulative-rounded share of askAmount). Honours Idempotency-Key."""
    amount, claim = body.chosen()
    return reply(await invoices.fund(market(), user, path_id(invoice_id), amount, idempotency, claim))


@blueprint.post("/<invoice_id:invoice_id>/repay")
@authenticated(Role.BUYER, checked_by_script=True)
@idempotent
@json_body(RepayRequest, optional=True)
@document_response(RepayOut)
@refuses(404, 409, 422)
async def repay(user: User, invoice_id: str, body: RepayRequest, idempotency: Idempotency | None) -> Response:
    """The buyer pays any amount up to what is outstanding (all of it without a body), split over the
    holders pro rata to what remains of their claims, while funded, overdue or defaulted. Honours
    Idempotency-Key."""
    return reply(await invoices.repay(market(), user, path_id(invoice_id), body.amount, idempotency))


@blueprint.post("/<invoice_id:invoice_id>/cancel")
@authenticated(Role.SELLER, checked_by_script=True)
@idempotent
@json_body(EmptyRequest, optional=True)
@document_response(InvoiceEnvelope)
@refuses(404, 409)
async def cancel(user: User, invoice_id: str, body: EmptyRequest, idempotency: Idempotency | None) -> Response:
    """The seller withdraws a listed invoice. Honours Idempotency-Key."""
    return reply(await invoices.cancel(market(), user, path_id(invoice_id), idempotency))


@blueprint.post("/<invoice_id:invoice_id>/accept")
@authenticated(Role.BUYER, checked_by_script=True)
@idempotent
@json_body(EmptyRequest, optional=True)
@document_response(InvoiceEnvelope)
@refuses(404, 409)
async def accept(user: User, invoice_id: str, body: EmptyRequest, idempotency: Idempotency | None) -> Response:
    """The buyer confirms an invoice awaiting its acceptance (BUYER_ACCEPTANCE=required); it is listed at
    once. Irrevocable. Honours Idempotency-Key."""
    return reply(await invoices.accept(market(), user, path_id(invoice_id), idempotency))


@blueprint.post("/<invoice_id:invoice_id>/reject")
@authenticated(Role.BUYER, checked_by_script=True)
@idempotent
@json_body(RejectRequest)
@document_response(InvoiceEnvelope)
@refuses(404, 409, 422)
async def reject(user: User, invoice_id: str, body: RejectRequest, idempotency: Idempotency | None) -> Response:
    """The buyer refuses an invoice awaiting its acceptance, with a reason for the seller. Honours
    Idempotency-Key."""
    return reply(await invoices.reject(market(), user, path_id(invoice_id), body.reason, idempotency))
