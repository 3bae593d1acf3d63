"""Request plumbing shared by the blueprints: strict JSON bodies, bearer auth, Idempotency-Key, replies."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar

import msgspec
from quart import Response, current_app, g, request
from quart_schema import document_request, security_scheme
from werkzeug.routing import BaseConverter

from finance.api.openapi import IDEMPOTENT, NO_CONTENT, OPTIONAL_BODY, QUERY, refuses
from finance.auth import users
from finance.auth.users import Role, User
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.scripts import Idempotency, Reply

Model = TypeVar("Model", bound=msgspec.Struct)
Handler = Callable[..., Awaitable[Any]]
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")
_ID = re.compile(r"[A-Za-z0-9_]{1,64}")
_DECODERS: dict[type, msgspec.json.Decoder[Any]] = {}
_DIGITS_MAX = 20  # an integer with more digits is out of every range we have; it reads as 10**20
_EXPONENT_DIGITS_MAX = 4
_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?")
_FRACTION_OR_EXPONENT = re.compile(rb"[0-9][.eE]")


def market() -> Market:
    found: Market = current_app.extensions["market"]
    return found


def decode_body(body: bytes, model: type[Model]) -> Model:
    """Strict decode; an empty body is ``{}``. A number written with a fraction or an exponent is the
    integer it denotes when its fraction is zero (``100.0``, ``1e2``: JSON Schema's integers), read
    exactly from its text, never through a float; ``1.5`` is still not an integer."""
    decoder = _DECODERS.get(model)
    if decoder is None:
        decoder = _DECODERS[model] = msgspec.json.Decoder(model)
    try:
        result: Model = decoder.decode(body or b"{}")
    except msgspec.ValidationError as error:
        if not _FRACTION_OR_EXPONENT.search(body):
            raise DomainError(Outcome.INVALID_REQUEST, str(error)) from None
        try:  # once more, with the numbers read exactly
            result = msgspec.convert(_EXACT.decode(body), model, strict=True)
        except msgspec.ValidationError as again:
            raise DomainError(Outcome.INVALID_REQUEST, str(again)) from None
    except msgspec.DecodeError as error:
        raise DomainError(Outcome.MALFORMED_JSON, f"the body is not valid JSON: {error}") from None
    return result


def exact_number(text: str) -> int | float:
    """msgspec's ``float_hook``: a JSON number written with a fraction or an exponent, from its text.
    The integer it denotes when its fraction is zero (one above every range we have when it is that
    large, without building it); otherwise the float, which an integer field refuses."""
    match = _NUMBER.fullmatch(text)
    if match is None:  # cannot happen for what msgspec hands over; refuse it as a float would be
        return float("nan")
    sign: str = match[1]
    whole: str = match[2]
    fraction: str = match[3] or ""
    exponent: str = match[4] or "0"
    negative = sign == "-"
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return 0
    trailing = len(digits) - len(digits.rstrip("0"))
    if len(exponent.lstrip("+-").lstrip("0")) > _EXPONENT_DIGITS_MAX:
        shift = (1 if not exponent.startswith("-") else -1) * 10**_EXPONENT_DIGITS_MAX
    else:
        shift = int(exponent) - len(fraction) + trailing
    if shift < 0:
        return float("-inf") if negative else float("inf")  # a fraction: any float is refused alike
    if len(digits) - trailing + shift > _DIGITS_MAX:
        return int((-1 if negative else 1) * 10**_DIGITS_MAX)
    return int((-1 if negative else 1) * int(digits.rstrip("0")) * 10**shift)


_EXACT = msgspec.json.Decoder(float_hook=exact_number)  # every number with a fraction or exponent, exactly


def json_body(model: type[msgspec.Struct], *, optional: bool = False) -> Callable[[Handler], Handler]:
    """Decodes the body into ``model`` and passes it as ``body``; keeps the raw bytes for idempotency.
    ``optional``: no body at all is fine too (it reads as ``{}``)."""

    def decorator(func: Handler) -> Handler:
        document_request(model)(func)
        refuses(400, 413)(func)
        setattr(func, OPTIONAL_BODY, optional)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
            return await func(*args, body=decode_body(raw, model), **kwargs)

        return wrapper

    return decorator


def authenticated(*roles: Role, checked_by_script: bool = False) -> Callable[[Handler], Handler]:
    """Resolves the bearer token to ``user`` (401 otherwise) and, when roles are given, checks them (403).

    ``checked_by_script``: the route's Lua script checks the session again, atomically with the money
    movement, so a user cached in this process will do (one Redis round trip instead of two)."""

    def decorator(func: Handler) -> Handler:
        security_scheme([{"bearer": []}])(func)
        refuses(401, 503, *([403] if roles else []))(func)

        @wraps(func)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = await users.authenticate(market(), bearer_token(), checked_by_script=checked_by_script)
            g.user_id = user.id  # for the request's log line
            if roles:
                users.require_role(user, *roles)
            try:
                return await func(*args, user=user, **kwargs)
            except DomainError as error:
                if error.outcome is Outcome.UNAUTHORIZED:  # revoked since we cached it
                    market().sessions.forget(user.session_key)
                raise

        return wrapper

    return decorator


def bearer_token() -> str:
    token = users.bearer_token(request.headers.get("Authorization"))
    if not token:
        raise DomainError(Outcome.UNAUTHORIZED, "send Authorization: Bearer <token>")
    return token


class InvoiceIdConverter(BaseConverter):
    """An invoice id in a path: any segment but the words of /api/invoices' own routes, so that
    /api/invoices/create is only the create route (its OPTIONS and 405 say Allow: POST, not GET too)."""

    regex = r"(?!(?:create|marketplace|seller|investor|buyer)$)[^/]+"


def path_id(raw: str) -> str:
    """An id from the path; anything that could not be one of ours is simply not found."""
    if not _ID.fullmatch(raw):
        raise DomainError(Outcome.INVOICE_NOT_FOUND, "no such invoice")
    return raw


def idempotent(func: Handler) -> Handler:
    """Passes the request's ``idempotency`` (or None) to a money route; goes below ``authenticated``."""
    setattr(func, IDEMPOTENT, True)
    refuses(400, 422)(func)

    @wraps(func)
    async def wrapper(*args: Any, user: User, **kwargs: Any) -> Any:
        return await func(*args, user=user, idempotency=await idempotency(user), **kwargs)

    return wrapper


def query(model: type[msgspec.Struct]) -> Callable[[Handler], Handler]:
    """Documents a route's query parameters (the route parses them; bad ones are 400)."""

    def decorator(func: Handler) -> Handler:
        setattr(func, QUERY, model)
        refuses(400)(func)
        return func

    return decorator


def no_content(func: Handler) -> Handler:
    """Documents a 204 answer."""
    setattr(func, NO_CONTENT, True)
    return func


async def idempotency(user: User) -> Idempotency | None:
    """The request's Idempotency-Key, scoped to (user, method, path), with its body's canonical hash."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise DomainError(Outcome.INVALID_IDEMPOTENCY_KEY,
                          "Idempotency-Key must be 1 to 255 visible ASCII characters")
    raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    try:  # one parse; 100.0 and 100 are the same body
        canonical = msgspec.json.encode(_EXACT.decode(raw or b"{}"), order="sorted")
    except msgspec.DecodeError:
        canonical = raw
    body_hash = hashlib.sha256(canonical).hexdigest()
    return Idempotency(user.id, request.method, request.path, key, body_hash)


def reply(result: Reply, status: int = 200) -> Response:
    """A script's JSON reply, passed through as it is (encoded once, in Redis)."""
    response = Response(result.json, status=status, content_type="application/json")
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def json(data: Any, status: int = 200) -> Response:
    return Response(msgspec.json.encode(data), status=status, content_type="application/json")
