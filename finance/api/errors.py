"""Every refusal as ``{"error": {"code", "message"}}``, and the one table of outcome -> HTTP status."""

from __future__ import annotations

import logging

import msgspec
from quart import Quart, Response
from quart_schema import RequestSchemaValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from finance import metrics
from finance.connection import UNAVAILABLE_ERRORS
from finance.outcomes import LAYER_OUTCOMES, DomainError, Outcome

log = logging.getLogger(__name__)

STATUS: dict[Outcome, int] = {
    Outcome.MALFORMED_JSON: 400,
    Outcome.INVALID_REQUEST: 400,
    Outcome.INVALID_IDEMPOTENCY_KEY: 400,
    Outcome.BODY_TOO_LARGE: 413,
    Outcome.UNSUPPORTED_MEDIA_TYPE: 415,
    Outcome.NOT_FOUND: 404,
    Outcome.METHOD_NOT_ALLOWED: 405,
    Outcome.INVALID_QUERY: 400,
    Outcome.INVALID_FIELD: 422,
    Outcome.INVALID_AMOUNT: 422,
    Outcome.AMOUNT_OUT_OF_RANGE: 422,
    Outcome.CLAIM_OUT_OF_RANGE: 422,
    Outcome.FRACTIONAL_INVOICE: 422,
    Outcome.INVOICE_NOT_FRACTIONAL: 422,
    Outcome.ASK_ABOVE_AMOUNT: 422,
    Outcome.DUE_DATE_NOT_IN_FUTURE: 422,
    Outcome.IDEMPOTENCY_KEY_REUSED: 422,
    Outcome.INVALID_BUYER: 422,
    Outcome.UNAUTHORIZED: 401,
    Outcome.INVALID_CREDENTIALS: 401,
    Outcome.FORBIDDEN: 403,
    Outcome.OWN_INVOICE: 403,
    Outcome.INVOICE_NOT_FOUND: 404,
    Outcome.BID_NOT_FOUND: 404,
    Outcome.LIMIT_NOT_FOUND: 404,
    Outcome.EMAIL_TAKEN: 409,
    Outcome.DUPLICATE_INVOICE: 409,
    Outcome.INVOICE_NOT_LISTED: 409,
    Outcome.INVOICE_NOT_REPAYABLE: 409,
    Outcome.INVOICE_PAST_DUE: 409,
    Outcome.FUNDING_DEADLINE_PASSED: 409,
    Outcome.INVOICE_NOT_PENDING_ACCEPTANCE: 409,
    Outcome.ACCEPTANCE_WINDOW_CLOSED: 409,
    Outcome.BID_NOT_PENDING: 409,
    Outcome.BID_EXPIRED: 409,
    Outcome.BID_LIMIT_REACHED: 409,
    Outcome.EXPOSURE_LIMIT_EXCEEDED: 409,
    Outcome.INSUFFICIENT_FUNDS: 409,
    Outcome.BALANCE_LIMIT_EXCEEDED: 409,
    Outcome.TOO_MANY_ATTEMPTS: 429,
    Outcome.REDIS_UNAVAILABLE: 503,
    Outcome.REPLICATION_UNCONFIRMED: 503,
    Outcome.INTERNAL_ERROR: 500,
}

# what the HTTP layer's own refusals (werkzeug's exceptions) are called, by their status
_HTTP_OUTCOMES: dict[int, Outcome] = {
    STATUS[outcome]: outcome
    for outcome in (Outcome.INVALID_REQUEST, Outcome.NOT_FOUND, Outcome.METHOD_NOT_ALLOWED, Outcome.BODY_TOO_LARGE,
                    Outcome.UNSUPPORTED_MEDIA_TYPE)
}


def error_response(outcome: Outcome, message: str, status: int | None = None) -> Response:
    """The envelope with the outcome's status; ``status`` is only for ``HTTP_ERROR``, which has none."""
    if (status is None) != (outcome not in LAYER_OUTCOMES):
        raise ValueError(f"{outcome} takes {'a' if outcome in LAYER_OUTCOMES else 'no'} status of its own")
    status = status or STATUS[outcome]
    body = msgspec.json.encode({"error": {"code": outcome.value, "message": message}})
    response = Response(body, status=status, content_type="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    elif status == 503:
        response.headers["Retry-After"] = "1"
    return response


def unavailable_response(message: str = "the data store is unavailable; retry shortly") -> Response:
    return error_response(Outcome.REDIS_UNAVAILABLE, message)


def register_error_handlers(app: Quart) -> None:
    @app.errorhandler(DomainError)
    async def domain_error(error: DomainError) -> Response:
        response = error_response(error.outcome, error.message)
        retry_after_ms = error.details.get("retryAfterMs")
        if isinstance(retry_after_ms, int):
            response.headers["Retry-After"] = str(max(1, -(-retry_after_ms // 1000)))
        return response

    @app.errorhandler(RequestSchemaValidationError)
    async def schema_error(error: RequestSchemaValidationError) -> Response:
        return error_response(Outcome.INVALID_REQUEST, str(error.validation_error))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        message = error.description or error.name
        outcome = _HTTP_OUTCOMES.get(status)
        response = (error_response(Outcome.HTTP_ERROR, message, status) if outcome is None
                    else error_response(outcome, message))
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(sorted(error.valid_methods))
        return response

    for error_class in UNAVAILABLE_ERRORS:
        app.register_error_handler(error_class, _unavailable)

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unexpected error")
        return error_response(Outcome.INTERNAL_ERROR, "an unexpected error occurred; it has been logged")


async def _unavailable(error: Exception) -> Response:
    log.warning("redis unavailable: %s", error)
    metrics.redis_error("http")
    return unavailable_response()
