"""/openapi.json is a valid OpenAPI 3.1 document that generated clients and fuzzers can use: checked by a
real validator, every $ref resolves, every route documents what it answers, the contract's constraints
are in it, and it says exactly what the server checks (a value the document admits is not a 400)."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from quart.typing import TestClientProtocol as Client

from finance.books.money import AMOUNT_MAX


@pytest.fixture
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = await response.get_json()
    return found


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{method.upper()} {path}": operation
            for path, methods in document["paths"].items() for method, operation in methods.items()}


async def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document)


async def test_every_ref_resolves(document: dict[str, Any]) -> None:
    found = refs(document)
    assert len(found) > 40
    schemas = document["components"]["schemas"]
    assert sorted({ref for ref in found if ref.removeprefix("#/components/schemas/") not in schemas}) == []


async def test_every_route_documents_its_answers(document: dict[str, Any]) -> None:
    ops = operations(document)
    assert len(ops) == 32
    for name, operation in ops.items():
        statuses = set(operation["responses"])
        assert "503" in statuses, name
        assert statuses & {"200", "201", "204"}, name
        if operation.get("security"):
            assert "401" in statuses, name
        if "requestBody" in operation:
            assert {"400", "413"} <= statuses, name
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")) and name != "GET /health":
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorOut"}
    assert {"401", "429"} <= set(ops["POST /api/auth/login"]["responses"])
    assert ops["POST /api/auth/login"]["responses"]["429"]["headers"]["Retry-After"]["required"] is True
    assert {"403", "404", "409", "422"} <= set(ops["POST /api/invoices/{invoice_id}/fund"]["responses"])
    assert set(ops["POST /api/auth/logout"]["responses"]) == {"204", "401", "503"}
    for decision in ("accept", "reject"):
        assert {"401", "403", "404", "409"} <= set(ops[f"POST /api/invoices/{{invoice_id}}/{decision}"]["responses"])
    assert "422" in ops["POST /api/invoices/{invoice_id}/reject"]["responses"]
    assert {"403", "404", "409", "422"} <= set(ops["POST /api/invoices/{invoice_id}/bids"]["responses"])
    assert {"403", "404", "409"} <= set(ops["POST /api/invoices/{invoice_id}/bids/{bid_id}/accept"]["responses"])
    assert "404" in ops["DELETE /api/invoices/{invoice_id}/bids/mine"]["responses"]
    bid_id = next(p for p in ops["POST /api/invoices/{invoice_id}/bids/{bid_id}/accept"]["parameters"]
                  if p["name"] == "bid_id")
    assert bid_id["schema"]["pattern"] == "^bid_[0-9a-f]{20}$"
    assert {"401", "403", "422"} <= set(ops["PUT /api/users/limits/{buyer_id}"]["responses"])
    assert set(ops["DELETE /api/users/limits/{buyer_id}"]["responses"]) >= {"204", "404"}
    buyer_id = ops["PUT /api/users/limits/{buyer_id}"]["parameters"][0]
    assert buyer_id["schema"]["pattern"] == "^usr_[0-9a-f]{20}$"


async def test_the_contract_constraints_are_in_the_document(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    amount = schemas["AmountRequest"]["properties"]["amount"]
    assert (amount["type"], amount["minimum"], amount["maximum"]) == ("integer", 1, AMOUNT_MAX)
    assert schemas["AmountRequest"]["additionalProperties"] is False
    assert schemas["RegisterRequest"]["properties"]["role"]["enum"] == ["seller", "investor", "buyer"]
    create = schemas["CreateInvoiceRequest"]["properties"]
    assert create["askAmount"]["maximum"] == AMOUNT_MAX and create["dueDate"]["format"] == "date-time"
    ops = operations(document)
    fund = {p["name"]: p for p in ops["POST /api/invoices/{invoice_id}/fund"]["parameters"]}
    assert fund["invoice_id"]["schema"]["pattern"] == "^inv_[0-9a-f]{20}$"
    assert fund["Idempotency-Key"]["in"] == "header"
    market = {p["name"]: p["schema"] for p in ops["GET /api/invoices/marketplace"]["parameters"]}
    assert market["sort"]["enum"] == ["newest", "amount", "dueDate"]
    assert (market["limit"]["minimum"], market["limit"]["maximum"]) == (1, 100)
    own = {p["name"]: p["schema"] for p in ops["GET /api/invoices/seller"]["parameters"]}
    assert "listed" in own["status"]["enum"]


@pytest.mark.parametrize("query", ["limit=1", "limit=100", "minAmount=0", f"maxAmount={AMOUNT_MAX}",
                                   "cursor=-5:x", "dueAfter=2030-01-01T00:00:00Z", "sort=dueDate"])
async def test_values_the_document_admits_are_not_refused(client: Client, query: str) -> None:
    from tests.helpers.api import register

    user = await register(client, "investor")
    response = await client.get(f"/api/invoices/marketplace?{query}", headers=user.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
