"""/api/users: profile, dashboard, portfolio, exposure limits."""

from __future__ import annotations

import re

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_response

from finance.api.http import authenticated, json, json_body, market, no_content, query
from finance.api.openapi import refuses
from finance.api.schemas import (
    AmountRequest,
    BuyersOut,
    BuyersQuery,
    DashboardOut,
    LimitEnvelope,
    LimitsOut,
    PortfolioOut,
    ProfileOut,
    ScorePageQuery,
)
from finance.auth import directory
from finance.auth.users import Role, User
from finance.marketplace import limits, stats
from finance.outcomes import DomainError, Outcome
from finance.pages import page_size, score_cursor

blueprint = Blueprint("users", __name__, url_prefix="/api/users")
_USER_ID = re.compile(r"usr_[0-9a-f]{20}")


@blueprint.get("/profile")
@authenticated()
@document_response(ProfileOut)
async def profile(user: User) -> Response:
    """The caller."""
    return json({"user": user.public()})


@blueprint.get("/dashboard")
@authenticated()
@document_response(DashboardOut)
async def dashboard(user: User) -> Response:
    """Role-specific totals and a 30-day daily series for a chart."""
    return json(await stats.dashboard(market(), user))


@blueprint.get("/portfolio")
@authenticated(Role.INVESTOR)
@query(ScorePageQuery)
@document_response(PortfolioOut)
async def portfolio(user: User) -> Response:
    """The investor's investments (newest first, each with its invoice) and totals."""
    cursor = request.args.get("cursor")
    score_cursor(cursor)
    page, totals = await stats.portfolio(market(), user, cursor or "", page_size(request.args.get("limit")))
    body = page.json[:-1] + ',"totals":' + msgspec.json.encode(totals).decode() + "}"
    return Response(body, content_type="application/json")


@blueprint.get("/buyers")
@authenticated()
@query(BuyersQuery)
@document_response(BuyersOut)
async def buyers(user: User) -> Response:
    """The buyer directory, by name: buyers whose display name starts with ``q`` (any case); limit 1..100.
    Sellers pick an invoice's buyer here, investors the buyer of an exposure limit."""
    prefix = request.args.get("q", "")
    if len(prefix) > 200:
        raise DomainError(Outcome.INVALID_QUERY, "q is at most 200 characters")
    return json({"buyers": await directory.buyers(market(), prefix, page_size(request.args.get("limit")))})


@blueprint.get("/limits")
@authenticated(Role.INVESTOR)
@document_response(LimitsOut)
async def list_limits(user: User) -> Response:
    """Your exposure limits per buyer, each with your current exposure on that buyer (claims funded and
    not yet repaid, plus pending bids, at face value)."""
    return json(await limits.list_limits(market(), user))


@blueprint.put("/limits/<buyer_id>")
@authenticated(Role.INVESTOR)
@json_body(AmountRequest)
@document_response(LimitEnvelope)
@refuses(422)
async def set_limit(user: User, buyer_id: str, body: AmountRequest) -> Response:
    """Sets the most you may have outstanding on this buyer's invoices; a fund or new bid past it is 409
    exposure_limit_exceeded. Setting it again replaces it."""
    return json(await limits.set_limit(market(), user, _buyer_id(buyer_id), body.amount))


@blueprint.delete("/limits/<buyer_id>")
@authenticated(Role.INVESTOR)
@no_content
@refuses(404)
async def remove_limit(user: User, buyer_id: str) -> Response:
    """Removes your limit on this buyer."""
    if not _USER_ID.fullmatch(buyer_id):  # no limit can be on what is no user id
        raise DomainError(Outcome.LIMIT_NOT_FOUND, "you have no limit on this buyer")
    await limits.remove_limit(market(), user, buyer_id)
    return Response(status=204)


def _buyer_id(raw: str) -> str:
    if not _USER_ID.fullmatch(raw):
        raise DomainError(Outcome.INVALID_BUYER, "buyerId does not name a registered buyer")
    return raw
