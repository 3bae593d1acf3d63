"""/api/wallet: balance, deposit, withdraw, transactions."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from finance.api.http import authenticated, idempotent, json, json_body, market, query, reply
from finance.api.openapi import refuses
from finance.api.schemas import AmountRequest, StreamPageQuery, TransactionsOut, WalletMoveOut, WalletOut
from finance.auth.users import User
from finance.books import wallets
from finance.pages import page_size
from finance.scripts import Idempotency
from finance.stream_ids import stream_cursor

blueprint = Blueprint("wallet", __name__, url_prefix="/api/wallet")


@blueprint.get("")
@authenticated()
@document_response(WalletOut)
async def balance(user: User) -> Response:
    """The caller's balance in paise."""
    return json(await wallets.balance(market(), user.id))


@blueprint.post("/deposit")
@authenticated(checked_by_script=True)
@idempotent
@json_body(AmountRequest)
@document_response(WalletMoveOut)
@refuses(409, 422)
async def deposit(user: User, body: AmountRequest, idempotency: Idempotency | None) -> Response:
    """Simulated bank transfer in. Honours Idempotency-Key."""
    return reply(await wallets.deposit(market(), user, body.amount, idempotency))


@blueprint.post("/withdraw")
@authenticated(checked_by_script=True)
@idempotent
@json_body(AmountRequest)
@document_response(WalletMoveOut)
@refuses(409, 422)
async def withdraw(user: User, body: AmountRequest, idempotency: Idempotency | None) -> Response:
    """Simulated bank transfer out. Honours Idempotency-Key."""
    return reply(await wallets.withdraw(market(), user, body.amount, idempotency))


@blueprint.get("/transactions")
@authenticated()
@query(StreamPageQuery)
@document_response(TransactionsOut)
async def transactions(user: User) -> Response:
    """Newest first; pass ``before=<nextCursor>`` for the next page; ``limit`` 1..100."""
    before = stream_cursor(request.args.get("before"))
    limit = page_size(request.args.get("limit"))
    return reply(await wallets.transactions(market(), user.id, before, limit))
