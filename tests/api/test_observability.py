"""/metrics access (METRICS_TOKEN, else loopback only), X-Request-Id, and the labels requests get."""

from __future__ import annotations

import re
from typing import Any

from quart.typing import TestClientProtocol as Client

from tests.conftest import Backend
from tests.helpers import metrics as m
from tests.helpers.api import deposit, register


async def _metrics(client: Client, address: str = "127.0.0.1", **headers: str) -> Any:
    return await client.get("/metrics", headers=headers, scope_base={"client": (address, 40000)})


async def test_metrics_answer_loopback_clients_only_without_a_token(client: Client) -> None:
    for address in ("127.0.0.1", "127.8.9.10", "::1"):
        assert (await _metrics(client, address)).status_code == 200
    for address in ("10.1.2.3", "192.168.0.7", "2001:db8::1", "not-an-address"):
        response = await _metrics(client, address)
        assert response.status_code == 403
        assert "METRICS_TOKEN" in await response.get_data(as_text=True)


async def test_metrics_ask_for_the_token_when_one_is_set(backend: Backend) -> None:
    app = backend.app(metrics_token="t0ken")
    async with app.test_app():
        client = app.test_client()
        assert (await _metrics(client)).status_code == 401  # loopback is not enough then
        assert (await _metrics(client, Authorization="Bearer nope")).status_code == 401
        assert (await _metrics(client, "10.1.2.3", Authorization="Bearer t0ken")).status_code == 200


async def test_metrics_are_not_in_the_openapi_document(client: Client) -> None:
    document = await (await client.get("/openapi.json")).get_json()
    assert "/metrics" not in document["paths"]


async def test_a_request_id_is_taken_when_sane_and_made_otherwise(client: Client) -> None:
    given = await client.get("/health", headers={"X-Request-Id": "edge-42.a:b_c"})
    assert given.headers["X-Request-Id"] == "edge-42.a:b_c"
    for bad in ("x" * 129, "has space", "new\u00e9line", ""):
        made = await client.get("/health", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["X-Request-Id"]), bad
    first, second = await client.get("/health"), await client.get("/health")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]
    refused = await client.post("/api/wallet/deposit", json={"amount": 1})  # errors carry it too
    assert refused.status_code == 401 and refused.headers["X-Request-Id"]


async def test_requests_are_counted_by_route_template_and_status(client: Client) -> None:
    investor = await register(client, "investor")
    before = m.parse(await (await _metrics(client)).get_data(as_text=True))
    await deposit(client, investor, 7_777)
    await client.get("/api/invoices/inv_abc123", headers=investor.headers)
    await client.get("/api/invoices/inv_abc123", headers=investor.headers)
    await client.get("/nothing/here/usr_123")
    await client.delete("/health")
    after = m.parse(await (await _metrics(client)).get_data(as_text=True))
    moved = m.delta(after, before, "http_requests_total")
    moved.pop(m.labels(method="GET", route="/metrics", status="200"), None)  # the first scrape
    assert moved == {
        m.labels(method="POST", route="/api/wallet/deposit", status="200"): 1,
        m.labels(method="GET", route="/api/invoices/<invoice_id:invoice_id>", status="404"): 2,
        m.labels(method="GET", route="unmatched", status="404"): 1,
        m.labels(method="DELETE", route="unmatched", status="405"): 1,
    }
    assert m.delta(after, before, "money_operations_total") == {
        m.labels(operation="deposit_funds", outcome="ok", code="none"): 1,
    }
