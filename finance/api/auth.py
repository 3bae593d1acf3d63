"""/api/auth: register, login, logout."""

from __future__ import annotations

from quart import Blueprint, Response, request
from quart_schema import document_response

from finance.api.http import authenticated, bearer_token, json, json_body, market, no_content
from finance.api.openapi import refuses
from finance.api.schemas import LoginRequest, RegisterRequest, SessionOut
from finance.auth import users
from finance.auth.users import User

blueprint = Blueprint("auth", __name__, url_prefix="/api/auth")


def client_address() -> str:
    """The peer's address as the server saw it (behind a proxy, run Hypercorn with its proxy settings)."""
    return request.remote_addr or "unknown"


@blueprint.post("/register")
@json_body(RegisterRequest)
@document_response(SessionOut, 201)
@refuses(409, 422, 429, 503)
async def register(body: RegisterRequest) -> Response:
    """Create an account (role seller, investor or buyer) and sign in."""
    session = await users.register(market(), body.name, body.email, body.password, body.role, body.company,
                                   client_address())
    return json({"user": session.user.public(), "token": session.token}, 201)


@blueprint.post("/login")
@json_body(LoginRequest)
@document_response(SessionOut, 200)
@refuses(401, 429, 503)
async def login(body: LoginRequest) -> Response:
    """Exchange email and password for a new bearer token."""
    session = await users.login(market(), body.email, body.password, client_address())
    return json({"user": session.user.public(), "token": session.token})


@blueprint.post("/logout")
@authenticated()
@no_content
async def logout(user: User) -> Response:
    """Revoke the bearer token this request carries."""
    await users.logout(market(), bearer_token())
    return Response("", status=204)
