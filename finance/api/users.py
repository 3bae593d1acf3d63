"""/api/users: profile, dashboard, portfolio."""

from __future__ import annotations

import msgspec
from quart import Blueprint, Response, request
from quart_schema import document_response

from finance import stats
from finance.api.http import authenticated, json, market, query
from finance.api.schemas import DashboardOut, PortfolioOut, ProfileOut, ScorePageQuery
from finance.pages import page_size, score_cursor
from finance.users import Role, User

blueprint = Blueprint("users", __name__, url_prefix="/api/users")


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
