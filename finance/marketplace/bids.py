"""Auctions (DESIGN 9.2): investors bid a price for a listed whole invoice with the money held in the
invoice's escrow; the seller accepts one bid, which funds the invoice and refunds the others."""

from __future__ import annotations

from typing import Any

from finance import ids
from finance.auth.users import Role, User, require_role
from finance.books.money import require_amount
from finance.clock import iso_from_ms
from finance.dates import parse_instant_ms
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.scripts import Idempotency, Reply

YEAR_MS = 365 * 86_400_000
BPS = 10_000


def discount_rate_bps(face: int, price: int, due_ms: int, now_ms: int) -> int:
    """The bid's simple annualised discount to the due date, in basis points, exactly (floor):
    (face - price) / price * (365 days / time to due) * 10000."""
    if due_ms <= now_ms or price <= 0:
        return 0
    return (face - price) * BPS * YEAR_MS // (price * (due_ms - now_ms))


async def place(market: Market, investor: User, invoice_id: str, amount: object, valid_until: str | None,
                idempotency: Idempotency | None = None) -> Reply:
    require_role(investor, Role.INVESTOR)
    price = require_amount(amount)
    until_ms = None if valid_until is None else parse_instant_ms(valid_until, "validUntil")
    now = market.clock.now()
    # face value and due date never change once an invoice exists: safe to read before the script
    face, due = await market.redis.hmget(market.keys.invoice(invoice_id), ["amount", "dueAt"])
    rate = discount_rate_bps(int(face), price, int(due), now.epoch_ms) if face and due else 0
    return await market.scripts.place_bid(
        invoice_id=invoice_id, investor_id=investor.id, session_key=investor.session_key,
        investor_name=investor.display_name, new_bid_id=ids.bid_id(), amount=price,
        valid_until="" if until_ms is None else iso_from_ms(until_ms), valid_until_ms=until_ms,
        discount_rate_bps=rate, now=now, idempotency=idempotency,
    )


async def withdraw(market: Market, investor: User, invoice_id: str, idempotency: Idempotency | None = None) -> Reply:
    require_role(investor, Role.INVESTOR)
    return await market.scripts.withdraw_bid(invoice_id=invoice_id, investor_id=investor.id,
                                             session_key=investor.session_key, now=market.clock.now(),
                                             idempotency=idempotency)


async def accept(market: Market, seller: User, invoice_id: str, bid_id: str,
                 idempotency: Idempotency | None = None) -> Reply:
    require_role(seller, Role.SELLER)
    return await market.scripts.accept_bid(invoice_id=invoice_id, bid_id=bid_id, seller_id=seller.id,
                                           session_key=seller.session_key, investment_id=ids.investment_id(),
                                           now=market.clock.now(), idempotency=idempotency)


def _bid(fields: dict[str, str]) -> dict[str, Any]:
    return {
        "id": fields["id"], "invoiceId": fields["invoiceId"], "investorId": fields["investorId"],
        "investor": fields.get("investor", ""), "amount": int(fields["amount"]),
        "discountRateBps": int(fields.get("discountRateBps") or 0), "validUntil": fields.get("validUntil") or None,
        "status": fields["status"], "createdAt": fields["createdAt"], "updatedAt": fields["updatedAt"],
    }


async def pending(market: Market, caller: User, invoice_id: str) -> dict[str, Any]:
    """``{bids}``, highest first: every pending bid for the invoice's seller, only their own for an
    investor. Nobody else sees bids; an invoice that is neither listed nor theirs does not exist for them."""
    keys = market.keys
    seller_id, status = await market.redis.hmget(keys.invoice(invoice_id), ["sellerId", "status"])
    if seller_id is None:
        raise DomainError(Outcome.INVOICE_NOT_FOUND, "no such invoice")
    if caller.id == seller_id:
        bid_ids = await market.redis.zrevrange(keys.invoice_bids(invoice_id), 0, -1)
    elif status != "listed":  # bids close with the listing: nothing of it is anyone else's
        raise DomainError(Outcome.INVOICE_NOT_FOUND, "no such invoice")
    elif caller.role is Role.INVESTOR:
        own = await market.redis.hget(keys.invoice_bidders(invoice_id), caller.id)
        bid_ids = [own] if own else []
    else:  # another seller
        raise DomainError(Outcome.FORBIDDEN, "only the invoice's seller and its bidders see its bids")
    async with market.redis.pipeline(transaction=True) as pipe:
        for bid_id in bid_ids:
            pipe.hgetall(keys.bid(bid_id))
        rows = await pipe.execute()
    return {"bids": [_bid(row) for row in rows if row and row.get("status") == "pending"]}
