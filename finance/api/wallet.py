"""/api/wallet: balance, deposit, withdraw, transactions."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from finance import wallets
from finance.api.http import authenticated, idempotency, json, json_body, market, reply
from finance.api.schemas import AmountRequest, ErrorOut, TransactionsOut, WalletMoveOut, WalletOut
from finance.pages import page_size, stream_cursor
from finance.users import User

blueprint = Blueprint("wallet", __name__, url_prefix="/api/wallet")


@blueprint.get("")
@authenticated()
@document_response(WalletOut)
async def balance(user: User) -> Response:
    """The caller's balance in paise."""
    return json(await wallets.balance(market(), user.id))


@blueprint.post("/deposit")
@authenticated(checked_by_script=True)
@json_body(AmountRequest)
@document_response(WalletMoveOut)
@document_response(ErrorOut, 422)
async def deposit(user: User, body: AmountRequest) -> Response:
    """Simulated bank transfer in. Honours Idempotency-Key."""
    return reply(await wallets.deposit(market(), user, body.amount, await idempotency(user)))


@blueprint.post("/withdraw")
@authenticated(checked_by_script=True)
@json_body(AmountRequest)
@document_response(WalletMoveOut)
@document_response(ErrorOut, 409)
async def withdraw(user: User, body: AmountRequest) -> Response:
    """Simulated bank transfer out. Honours Idempotency-Key."""
    return reply(await wallets.withdraw(market(), user, body.amount, await idempotency(user)))


@blueprint.get("/transactions")
@authenticated()
@document_response(TransactionsOut)
async def transactions(user: User) -> Response:
    """Newest first; pass ``before=<nextCursor>`` for the next page; ``limit`` 1..100."""
    before = stream_cursor(request.args.get("before"))
    limit = page_size(request.args.get("limit"))
    return reply(await wallets.transactions(market(), user.id, before, limit))
