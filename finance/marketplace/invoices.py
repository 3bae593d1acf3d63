"""Invoices: listing, reading, the market and the parties' lists, cancelling, funding and repaying."""

from __future__ import annotations

from dataclasses import dataclass

from finance import ids
from finance.auth.users import Role, User, require_role
from finance.books.money import require_amount
from finance.clock import iso_from_ms
from finance.dates import parse_instant_ms
from finance.keys import SORT_INDEXES
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.pages import score_cursor
from finance.scripts import Idempotency, InvoiceQuery, Reply
from finance.text import strip_spaces

INVOICE_NUMBER_LENGTH_MAX = 64
DESCRIPTION_LENGTH_MAX = 1_000
DUE_DATE_YEARS_MAX = 10


@dataclass(frozen=True)
class NewInvoice:
    invoice_number: str
    buyer_id: str
    amount: object
    ask_amount: object
    due_date: str
    description: str | None = None
    # fractional (DESIGN 9.4): the smallest claim an investor may buy, and when it must be sold by
    min_ticket: object = None
    funding_deadline: str | None = None


async def create(market: Market, seller: User, new: NewInvoice, idempotency: Idempotency | None = None) -> Reply:
    require_role(seller, Role.SELLER)
    number = strip_spaces(new.invoice_number)
    if not number or len(new.invoice_number) > INVOICE_NUMBER_LENGTH_MAX:
        raise DomainError(Outcome.INVALID_FIELD, f"invoiceNumber must be 1 to {INVOICE_NUMBER_LENGTH_MAX} characters")
    description = strip_spaces(new.description or "")
    if len(new.description or "") > DESCRIPTION_LENGTH_MAX:
        raise DomainError(Outcome.INVALID_FIELD, f"description must be at most {DESCRIPTION_LENGTH_MAX} characters")
    amount = require_amount(new.amount, "amount")
    ask_amount = require_amount(new.ask_amount, "askAmount")
    if ask_amount > amount:
        raise DomainError(Outcome.ASK_ABOVE_AMOUNT, "askAmount must not be above amount")
    now = market.clock.now()
    # whether it is in the future is the script's check: it depends on the time, and a retry with the
    # same Idempotency-Key must get the first answer
    due_ms = parse_instant_ms(new.due_date, "dueDate")
    if new.buyer_id == seller.id:
        raise DomainError(Outcome.INVALID_BUYER, "buyerId does not name a registered buyer")
    invoice = {
        "id": ids.invoice_id(), "invoiceNumber": number, "sellerId": seller.id, "seller": seller.display_name,
        "buyerId": new.buyer_id, "amount": amount, "askAmount": ask_amount, "dueDate": iso_from_ms(due_ms),
        "dueAt": due_ms, "description": description,
        "dueAtMax": now.epoch_ms + DUE_DATE_YEARS_MAX * 366 * 86_400_000,
    }
    if new.min_ticket is not None:
        min_ticket = require_amount(new.min_ticket, "minTicket")
        if min_ticket > amount:
            raise DomainError(Outcome.INVALID_FIELD, "minTicket must be 1..amount (paise of face value)")
        # whether it is in the future is the script's check, as for the due date
        deadline_ms = due_ms if new.funding_deadline is None else parse_instant_ms(new.funding_deadline,
                                                                                     "fundingDeadline")
        if deadline_ms > due_ms:
            raise DomainError(Outcome.INVALID_FIELD, "fundingDeadline must not be after dueDate")
        invoice |= {"minTicket": min_ticket, "fundingDeadlineMs": deadline_ms,
                    "fundingDeadline": iso_from_ms(deadline_ms)}
    elif new.funding_deadline is not None:
        raise DomainError(Outcome.INVALID_FIELD, "fundingDeadline is for fractional invoices (with minTicket)")
    # with BUYER_ACCEPTANCE=required: the window, or the due date if that comes first
    accept_by = min(now.epoch_ms + market.settings.acceptance_window_hours * 3_600_000, due_ms)
    invoice["acceptByMs"], invoice["acceptBy"] = accept_by, iso_from_ms(accept_by)
    return await market.scripts.create_invoice(invoice=invoice, session_key=seller.session_key, now=now,
                                               idempotency=idempotency)


async def get(market: Market, caller: User, invoice_id: str) -> Reply:
    return await market.scripts.read_invoice(invoice_id=invoice_id, caller_id=caller.id)


async def cancel(market: Market, seller: User, invoice_id: str, idempotency: Idempotency | None = None) -> Reply:
    require_role(seller, Role.SELLER)
    now = market.clock.now()
    return await market.scripts.cancel_invoice(invoice_id=invoice_id, seller_id=seller.id,
                                               session_key=seller.session_key, now=now, idempotency=idempotency)


async def accept(market: Market, buyer: User, invoice_id: str, idempotency: Idempotency | None = None) -> Reply:
    """The buyer confirms an invoice awaiting its acceptance; it is listed at once (irrevocable)."""
    require_role(buyer, Role.BUYER)
    return await market.scripts.accept_invoice(invoice_id=invoice_id, buyer_id=buyer.id,
                                               session_key=buyer.session_key, now=market.clock.now(),
                                               idempotency=idempotency)


REASON_LENGTH_MAX = 500


async def reject(market: Market, buyer: User, invoice_id: str, reason: str,
                 idempotency: Idempotency | None = None) -> Reply:
    """The buyer refuses an invoice awaiting its acceptance, saying why; it is never listed."""
    require_role(buyer, Role.BUYER)
    text = strip_spaces(reason)
    if not text or len(reason) > REASON_LENGTH_MAX:
        raise DomainError(Outcome.INVALID_FIELD, f"reason must be 1 to {REASON_LENGTH_MAX} characters")
    return await market.scripts.reject_invoice(invoice_id=invoice_id, buyer_id=buyer.id,
                                               session_key=buyer.session_key, reason=text,
                                               now=market.clock.now(), idempotency=idempotency)


async def fund(market: Market, investor: User, invoice_id: str, amount: object = None,
               idempotency: Idempotency | None = None, claim: object = None) -> Reply:
    """Buys a whole invoice for ``amount``, or a claim of ``claim`` paise of a fractional one's face value."""
    require_role(investor, Role.INVESTOR)
    if (amount is None) == (claim is None):
        # a shape error, as a missing field is: one of the two, as a number
        raise DomainError(Outcome.INVALID_REQUEST, "send amount (a whole invoice) or claim (a fractional one), "
                                                   "as an integer, and not both")
    if claim is not None:
        return await market.scripts.buy_claim(
            invoice_id=invoice_id, investor_id=investor.id, session_key=investor.session_key,
            investment_id=ids.investment_id(), claim=require_amount(claim, "claim"), now=market.clock.now(),
            idempotency=idempotency,
        )
    paise = require_amount(amount)
    return await market.scripts.fund_invoice(
        invoice_id=invoice_id, investor_id=investor.id, session_key=investor.session_key,
        investor_name=investor.display_name, investment_id=ids.investment_id(), amount=paise,
        now=market.clock.now(), idempotency=idempotency,
    )


async def repay(market: Market, buyer: User, invoice_id: str, amount: object = None,
                idempotency: Idempotency | None = None) -> Reply:
    """The buyer pays ``amount`` (all that is outstanding when None), while funded, overdue or defaulted."""
    require_role(buyer, Role.BUYER)
    paise = None if amount is None else require_amount(amount)
    return await market.scripts.repay_invoice(invoice_id=invoice_id, buyer_id=buyer.id, session_key=buyer.session_key,
                                              now=market.clock.now(), amount=paise, idempotency=idempotency)


@dataclass(frozen=True)
class MarketFilter:
    min_amount: int | None = None
    max_amount: int | None = None
    due_after: str | None = None
    due_before: str | None = None
    seller_id: str = ""
    buyer_id: str = ""
    sort: str = "newest"
    limit: int = 20
    cursor: str | None = None


async def marketplace(market: Market, page: MarketFilter) -> Reply:
    """Listed invoices, filtered, sorted newest first, by amount or by due date (both ascending)."""
    if page.sort not in SORT_INDEXES:
        raise DomainError(Outcome.INVALID_QUERY, f"sort must be one of {', '.join(SORT_INDEXES)}")
    due_after = None if page.due_after is None else parse_instant_ms(page.due_after, "dueAfter", Outcome.INVALID_QUERY)
    due_before = (None if page.due_before is None
                  else parse_instant_ms(page.due_before, "dueBefore", Outcome.INVALID_QUERY))
    cursor_score, cursor_member = score_cursor(page.cursor)
    # the index's own score bounds the range when the filter is on the sort key
    low, high = "-inf", "+inf"
    if page.sort == "amount":
        low = str(page.min_amount) if page.min_amount is not None else low
        high = str(page.max_amount) if page.max_amount is not None else high
    elif page.sort == "dueDate":
        low = str(due_after) if due_after is not None else low
        high = str(due_before) if due_before is not None else high
    query = InvoiceQuery(
        order="desc" if page.sort == "newest" else "asc", score_min=low, score_max=high,
        cursor_score=cursor_score, cursor_member=cursor_member, limit=page.limit,
        min_amount=page.min_amount, max_amount=page.max_amount, due_after_ms=due_after, due_before_ms=due_before,
        seller_id=page.seller_id, buyer_id=page.buyer_id, status="listed",
    )
    return await market.scripts.query_invoices(index_key=market.keys.listed_index(page.sort), query=query)


async def own(market: Market, user: User, role: Role, status: str = "", limit: int = 20,
              cursor: str | None = None) -> Reply:
    """The caller's own invoices as seller, buyer or investor (the role must be theirs), newest first."""
    require_role(user, role)
    cursor_score, cursor_member = score_cursor(cursor)
    query = InvoiceQuery(cursor_score=cursor_score, cursor_member=cursor_member, limit=limit, status=status)
    return await market.scripts.query_invoices(index_key=market.keys.user_invoices(user.id), query=query)
