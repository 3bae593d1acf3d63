"""/api/invoices/{id}/bids: the auction of a listed invoice (docs/api.md)."""

from __future__ import annotations

import re

from quart import Blueprint, Response
from quart_schema import document_response

from finance.api.http import authenticated, idempotent, json, json_body, market, path_id, reply
from finance.api.openapi import refuses
from finance.api.schemas import AcceptedBidOut, BidRequest, BidsOut, BidWalletOut, EmptyRequest
from finance.auth.users import Role, User
from finance.marketplace import bids
from finance.outcomes import DomainError, Outcome
from finance.scripts import Idempotency

blueprint = Blueprint("bids", __name__, url_prefix="/api/invoices")
_BID_ID = re.compile(r"bid_[0-9a-f]{20}")


@blueprint.post("/<invoice_id:invoice_id>/bids")
@authenticated(Role.INVESTOR, checked_by_script=True)
@idempotent
@json_body(BidRequest)
@document_response(BidWalletOut)
@refuses(404, 409, 422)
async def place_bid(user: User, invoice_id: str, body: BidRequest, idempotency: Idempotency | None) -> Response:
    """Bid a price for the whole invoice (askAmount <= amount <= amount of the invoice); the money is
    held in the invoice's escrow at once. A second bid replaces your pending one. Honours Idempotency-Key."""
    return reply(await bids.place(market(), user, path_id(invoice_id), body.amount, body.valid_until, idempotency))


@blueprint.get("/<invoice_id:invoice_id>/bids")
@authenticated(Role.SELLER, Role.INVESTOR)
@document_response(BidsOut)
@refuses(404)
async def list_bids(user: User, invoice_id: str) -> Response:
    """The pending bids, highest first: all of them for the seller, your own for an investor."""
    return json(await bids.pending(market(), user, path_id(invoice_id)))


@blueprint.delete("/<invoice_id:invoice_id>/bids/mine")
@authenticated(Role.INVESTOR, checked_by_script=True)
@idempotent
@json_body(EmptyRequest, optional=True)
@document_response(BidWalletOut)
@refuses(404)
async def withdraw_bid(user: User, invoice_id: str, body: EmptyRequest, idempotency: Idempotency | None) -> Response:
    """Withdraw your pending bid: the money goes back to your wallet. Honours Idempotency-Key."""
    return reply(await bids.withdraw(market(), user, path_id(invoice_id), idempotency))


@blueprint.post("/<invoice_id:invoice_id>/bids/<bid_id>/accept")
@authenticated(Role.SELLER, checked_by_script=True)
@idempotent
@json_body(EmptyRequest, optional=True)
@document_response(AcceptedBidOut)
@refuses(404, 409)
async def accept_bid(user: User, invoice_id: str, bid_id: str, body: EmptyRequest,
                 idempotency: Idempotency | None) -> Response:
    """Accept one pending bid: the invoice is funded at its amount (minus the platform fee to you), and
    every other bid is refunded. Honours Idempotency-Key."""
    if not _BID_ID.fullmatch(bid_id):
        raise DomainError(Outcome.BID_NOT_FOUND, "no such bid on this invoice")
    return reply(await bids.accept(market(), user, path_id(invoice_id), bid_id, idempotency))
