"""The OpenAPI 3.1 document at /openapi.json: quart-schema's, made whole.

quart-schema (0.25, msgspec) keeps only a model's top schema and drops the components its ``$ref``s point
to, and knows nothing of the refusals a route answers. This provider puts every component in
``components.schemas``, documents each route's refusals with the error envelope (from what its
decorators in finance/api/http.py declare), its query parameters, the Idempotency-Key header and the
id pattern of path parameters. The document is built once per process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from quart_schema import OpenAPIProvider
from quart_schema.validation import DataSource
from werkzeug.routing.rules import Rule

from finance.api.schemas import BID_ID_PATTERN, IDEMPOTENCY_KEY_PATTERN, INVOICE_ID_PATTERN, USER_ID_PATTERN, ErrorOut

REF = "#/components/schemas/{name}"
# view-function attributes the decorators of finance/api/http.py set
REFUSALS = "_finance_refusals"
QUERY = "_finance_query"
IDEMPOTENT = "_finance_idempotent"
OPTIONAL_BODY = "_finance_optional_body"
NO_CONTENT = "_finance_no_content"

DESCRIPTIONS = {
    400: "Malformed: not JSON, a wrong type, a missing or unknown field, or a bad query parameter",
    401: "No bearer token, or one that is unknown, expired or revoked",
    403: "The caller's role or relation to the resource does not allow this",
    404: "Unknown, or not visible to the caller",
    409: "The state does not allow this (not listed, insufficient funds, duplicate, ...)",
    413: "The body is larger than the server accepts",
    422: "Well-formed but unacceptable (an amount out of range, a due date in the past, a reused Idempotency-Key)",
    429: "Too many attempts; retry after the number of seconds in Retry-After",
    503: "Redis is unavailable; retry shortly",
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "required": True,
                               "schema": {"type": "string", "pattern": "^[0-9]+$"}}}

Func = TypeVar("Func", bound=Callable[..., Any])


def refuses(*statuses: int) -> Callable[[Func], Func]:
    """Declares refusals a route answers (with the error envelope) for the document."""

    def decorator(func: Func) -> Func:
        setattr(func, REFUSALS, getattr(func, REFUSALS, frozenset()) | frozenset(statuses))
        return func

    return decorator


def components(model: type[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``({"$ref": ...}, every component the model needs)``."""
    (ref,), found = msgspec.json.schema_components([model], ref_template=REF)
    extra = getattr(model, "SCHEMA", None)  # what a JSON Schema says of the body as a whole (oneOf, ...)
    if isinstance(extra, dict) and model.__name__ in found:
        found[model.__name__] |= extra
    return ref, found


def error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": REF.format(name=ErrorOut.__name__)}}},
    }
    if status in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


class ContractProvider(OpenAPIProvider):
    _document: dict[str, Any] | None = None

    def schema(self) -> dict[str, Any]:
        if self._document is None:
            document = super().schema()
            document["components"]["schemas"].update(components(ErrorOut)[1])
            self._document = document
        return self._document

    def build_request_body(self, model: type[Any], source: DataSource) -> tuple[dict[str, Any], dict[str, Any]]:
        ref, found = components(model)
        return {"required": True, "content": {"application/json": {"schema": ref}}}, found

    def build_response_object(self, model: type[Any], headers_model: type[Any] | None) -> tuple[dict[str, Any],
                                                                                           dict[str, Any]]:
        ref, found = components(model)
        description = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else "OK"
        return {"description": description, "content": {"application/json": {"schema": ref}}}, found

    def build_paths(self, rule: Rule) -> tuple[dict[str, Any], dict[str, Any]]:
        paths, found = super().build_paths(rule)
        func = self._app.view_functions[rule.endpoint]
        for operations in paths.values():
            for method, operation in operations.items():
                operations[method] = self._complete(copy.deepcopy(operation), func, found)
        return paths, found

    def _complete(self, operation: dict[str, Any], func: Any, found: dict[str, Any]) -> dict[str, Any]:
        for parameter in operation["parameters"]:
            if parameter["in"] == "path":
                pattern = {"bid_id": BID_ID_PATTERN, "buyer_id": USER_ID_PATTERN}.get(parameter["name"],
                                                                                   INVOICE_ID_PATTERN)
                parameter["schema"] = {"type": "string", "pattern": pattern}
        query = getattr(func, QUERY, None)
        if query is not None:
            operation["parameters"].extend(_query_parameters(query, found))
        if getattr(func, IDEMPOTENT, False):
            operation["parameters"].append({
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "Retries with the same key and body return the first result and move nothing; "
                               "kept 24 hours, scoped to (user, method, path)",
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
            })
        if getattr(func, NO_CONTENT, False):
            operation["responses"]["204"] = {"description": "Done; no content"}
        if getattr(func, OPTIONAL_BODY, False) and "requestBody" in operation:
            operation["requestBody"]["required"] = False
        for status in sorted(getattr(func, REFUSALS, frozenset())):
            operation["responses"].setdefault(str(status), error_response(status))
        operation["responses"] = {str(status): answer for status, answer in
                                  sorted(operation["responses"].items(), key=lambda item: str(item[0]))}
        if not operation["parameters"]:
            del operation["parameters"]
        return operation


def _query_parameters(model: type[Any], found: dict[str, Any]) -> list[dict[str, Any]]:
    _, schemas = components(model)
    top = schemas.pop(model.__name__)
    found.update(schemas)
    required = set(top.get("required", []))
    parameters = []
    for name, schema in top["properties"].items():
        if schema.get("default") == "":  # "" stands for "not given": no value of the schema's own
            del schema["default"]
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if "description" in schema:
            parameter["description"] = schema.pop("description")
        parameters.append(parameter)
    return parameters
