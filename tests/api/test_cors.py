"""CORS (CORS_ORIGINS): an allowed origin gets the headers and its preflights answered, another gets none."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.conftest import Backend
from tests.helpers.api import create_invoice, deposit, register, trio

ALLOWED = "http://localhost:3000"


def cors_headers(response: Any) -> list[str]:
    return [name for name, _ in response.headers.items() if name.lower().startswith("access-control-")]


@pytest.fixture
async def cors_app(backend: Backend) -> AsyncIterator[Quart]:
    application = backend.app(cors_origins=(ALLOWED, "https://portal.bank.example"))
    async with application.test_app():
        yield application


@pytest.fixture
def cors_client(cors_app: Quart) -> Client:
    return cors_app.test_client()


async def test_allowed_origin_gets_the_headers_and_sees_retry_after(cors_client: Client) -> None:
    response = await cors_client.get("/api/wallet", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert response.headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers["Vary"]


async def test_refused_origin_gets_no_cors_headers(cors_client: Client) -> None:
    response = await cors_client.get("/api/wallet", headers={"Origin": "http://evil.example"})
    assert response.status_code == 401
    assert not cors_headers(response)
    preflight = await cors_client.options("/api/wallet/deposit", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert not cors_headers(preflight)


async def test_preflight_on_a_money_route_allows_the_api_headers(cors_client: Client) -> None:
    t = await trio(cors_client)
    invoice = await create_invoice(cors_client, t.seller, t.buyer)
    response = await cors_client.options(f"/api/invoices/{invoice['id']}/fund", headers={
        "Origin": "https://portal.bank.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://portal.bank.example"
    allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type", "idempotency-key"}
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Max-Age"] == "600"
    # the preflight moved nothing and the real request goes through with the headers
    investor = t.investor
    funded = await cors_client.post(f"/api/invoices/{invoice['id']}/fund", json={"amount": invoice["askAmount"]},
                                    headers={**investor.headers, "Origin": "https://portal.bank.example",
                                             "Idempotency-Key": "cors-1"})
    assert funded.status_code == 200
    assert funded.headers["Access-Control-Allow-Origin"] == "https://portal.bank.example"


async def test_without_cors_origins_no_origin_gets_headers(client: Client) -> None:
    user = await register(client, "investor")
    await deposit(client, user, 100)
    response = await client.get("/api/wallet", headers={**user.headers, "Origin": ALLOWED})
    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_origins_parse_from_the_environment() -> None:
    from finance.settings import Settings

    settings = Settings.from_env({"CORS_ORIGINS": " http://localhost:3000/ , HTTPS://Portal.Example ,"})
    assert settings.cors_origins == ("http://localhost:3000", "https://portal.example")
    assert Settings.from_env({}).cors_origins == ()


async def test_an_origin_written_with_its_default_port_is_the_same_site_for_http_and_sockets(backend: Backend) -> None:
    from streams.origin import origin_allowed

    application = backend.app(cors_origins=("HTTPS://Portal.Example:443/",))
    async with application.test_app():
        client = application.test_client()
        response = await client.options("/api/wallet/deposit", headers={
            "Origin": "https://portal.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
        assert response.headers["Access-Control-Allow-Origin"] == "https://portal.example"
    settings = backend.settings(cors_origins=("HTTPS://Portal.Example:443/",))
    assert settings.cors_origins == ("https://portal.example",)
    assert origin_allowed("https://portal.example", "http", "127.0.0.1:8000", settings.cors_origins)


async def test_every_api_route_answers_a_preflight_with_the_api_headers(cors_app: Quart) -> None:
    client = cors_app.test_client()
    rules = [rule for rule in cors_app.url_map.iter_rules() if rule.rule.startswith("/api/")]
    assert len(rules) > 20
    for rule in rules:
        path = re.sub(r"<[^>]+>", "x", rule.rule)  # any value: a preflight reaches no handler
        method = next(m for m in sorted(rule.methods or ()) if m not in ("HEAD", "OPTIONS"))
        response = await client.options(path, headers={
            "Origin": ALLOWED, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key,x-unlisted"})
        assert response.status_code == 200, path
        assert response.headers.get("Access-Control-Allow-Origin") == ALLOWED, path
        # the API's three headers, and not whatever was asked (a wildcard would echo x-unlisted)
        allowed = {name.strip().lower() for name in response.headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed == {"authorization", "content-type", "idempotency-key"}, path

