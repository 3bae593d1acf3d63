"""Every refusal as ``{"error": {"code", "message"}}``, and the one table of outcome -> HTTP status."""

from __future__ import annotations

import logging

import msgspec
from quart import Quart, Response
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from finance.connection import UNAVAILABLE_ERRORS
from finance.outcomes import DomainError, Outcome

log = logging.getLogger(__name__)

STATUS: dict[Outcome, int] = {
    Outcome.INVALID_QUERY: 400,
    Outcome.INVALID_FIELD: 422,
    Outcome.INVALID_AMOUNT: 422,
    Outcome.AMOUNT_OUT_OF_RANGE: 422,
    Outcome.ASK_ABOVE_AMOUNT: 422,
    Outcome.DUE_DATE_NOT_IN_FUTURE: 422,
    Outcome.IDEMPOTENCY_KEY_REUSED: 422,
    Outcome.INVALID_BUYER: 422,
    Outcome.UNAUTHORIZED: 401,
    Outcome.INVALID_CREDENTIALS: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.OWN_INVOICE: 403,
    Outcome.INVOICE_NOT_FOUND: 404,
    Outcome.EMAIL_TAKEN: 409,
    Outcome.DUPLICATE_INVOICE: 409,
    Outcome.INVOICE_NOT_LISTED: 409,
    Outcome.INVOICE_NOT_REPAYABLE: 409,
    Outcome.INVOICE_PAST_DUE: 409,
    Outcome.INSUFFICIENT_FUNDS: 409,
    Outcome.BALANCE_LIMIT_EXCEEDED: 409,
    Outcome.TOO_MANY_ATTEMPTS: 429,
}

# codes the HTTP layer itself answers with
HTTP_CODES: dict[int, str] = {
    400: "invalid_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


class BadRequest(Exception):
    """A body that is not JSON or does not fit the request's shape (400)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    body = msgspec.json.encode({"error": {"code": code, "message": message}})
    response = Response(body, status=status, content_type="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(DomainError)
    async def domain_error(error: DomainError) -> Response:
        response = error_response(STATUS[error.outcome], error.outcome.value, error.message)
        retry_after_ms = error.details.get("retryAfterMs")
        if isinstance(retry_after_ms, int):
            response.headers["Retry-After"] = str(max(1, -(-retry_after_ms // 1000)))
        return response

    @app.errorhandler(BadRequest)
    async def bad_request(error: BadRequest) -> Response:
        return error_response(400, error.code, error.message)

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(error: RequestSchemaValidationError) -> Response:
        return error_response(400, "invalid_request", str(error.validation_error))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        response = error_response(status, HTTP_CODES.get(status, "http_error"), error.description or error.name)
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    for error_class in UNAVAILABLE_ERRORS:
        app.register_error_handler(error_class, _unavailable)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(500, "internal_error", "an unexpected error occurred; it has been logged")


async def _unavailable(error: Exception) -> Response:
    log.warning("redis unavailable: %s", error)
    response = error_response(503, "redis_unavailable", "the data store is unavailable; retry shortly")
    response.headers["Retry-After"] = "1"
    return response
