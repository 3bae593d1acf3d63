"""Bad input never gives a 500: always a 4xx with the error envelope, the exact status and code, and
nothing moved. 400 for shape problems (invalid_request, malformed_json), 413 body_too_large over 64 KiB,
422 invalid_amount for an integer of the right shape but out of range; bad query strings 400 invalid_query.
A number with a zero fraction (100.0, 1e2) is the integer it denotes, as in JSON Schema, read exactly.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import FixedClock, iso_from_ms
from tests.helpers.api import DAY_MS, Actor, Trio, balance, error_code, ledger_state, listed, refused, trio

START_MS = 1_900_000_000_000
BODY_MAX = 64 * 1024


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START_MS)


def raw(value: Any) -> bytes:
    return json.dumps(value).encode()


# (id, raw body, status, code) for a route whose body is {"amount": int}
AMOUNT_BODIES: list[tuple[str, bytes, int, str]] = [
    ("true", raw({"amount": True}), 400, "invalid_request"),
    ("false", raw({"amount": False}), 400, "invalid_request"),
    ("float-1.5", raw({"amount": 1.5}), 400, "invalid_request"),
    ("exponent-5e-1", b'{"amount": 5e-1}', 400, "invalid_request"),
    ("a-fraction-a-double-would-round-away", b'{"amount": 999999999999999.99999}', 400, "invalid_request"),
    ("zero-point-zero", b'{"amount": 0.0}', 422, "invalid_amount"),
    ("negative-1.0", b'{"amount": -1.0}', 422, "invalid_amount"),
    ("one-over-the-max-as-exponent", b'{"amount": 1.000000000000001e15}', 422, "invalid_amount"),
    ("huge-exponent", b'{"amount": 1e400}', 422, "invalid_amount"),
    ("giant-exponent", b'{"amount": 1e999999999}', 422, "invalid_amount"),
    ("exponent-beyond-decimal", b'{"amount": 1e9999999999999999999}', 422, "invalid_amount"),
    ("tiny-exponent", b'{"amount": 1e-9999999999999999999}', 400, "invalid_request"),
    ("zero-with-exponent", b'{"amount": 0e25}', 422, "invalid_amount"),
    ("deeply-nested-unknown-field", b'{"amount": 1, "x": ' + b"[" * 500 + b"1.0" + b"]" * 500 + b"}", 400,
     "invalid_request"),
    ("fraction-as-string", raw({"amount": "100.0"}), 400, "invalid_request"),
    ("numeric-string", raw({"amount": "100"}), 400, "invalid_request"),
    ("null", raw({"amount": None}), 400, "invalid_request"),
    ("list", raw({"amount": [100]}), 400, "invalid_request"),
    ("object", raw({"amount": {"value": 100}}), 400, "invalid_request"),
    ("missing", raw({}), 400, "invalid_request"),
    ("unknown-field", raw({"amount": 100, "currency": "INR"}), 400, "invalid_request"),
    ("array-body", raw([{"amount": 100}]), 400, "invalid_request"),
    ("string-body", raw("100"), 400, "invalid_request"),
    ("null-body", b"null", 400, "invalid_request"),
    ("empty-body", b"", 400, "invalid_request"),
    ("malformed", b'{"amount": 100', 400, "malformed_json"),
    ("trailing-garbage", b'{"amount": 100} x', 400, "malformed_json"),
    ("nan", b'{"amount": NaN}', 400, "malformed_json"),
    ("not-utf8", b"\xff\xfe", 400, "malformed_json"),
    ("whitespace-only", b"   ", 400, "malformed_json"),
    ("10**30", raw({"amount": 10**30}), 422, "invalid_amount"),
    ("-10**30", raw({"amount": -(10**30)}), 422, "invalid_amount"),
    ("2**64", raw({"amount": 2**64}), 422, "invalid_amount"),
    ("over-64KiB", b'{"amount": 100, "pad": "' + b"x" * BODY_MAX + b'"}', 413, "body_too_large"),
]


async def send(client: Client, path: str, actor: Actor, body: bytes) -> Any:
    headers = {**actor.headers, "Content-Type": "application/json"}
    return await client.post(path, data=body, headers=headers)


async def seller_invoices(client: Client, seller: Actor) -> list[str]:
    page = await (await client.get("/api/invoices/seller", headers=seller.headers)).get_json()
    return [row["id"] for row in page["invoices"]]


@pytest.mark.parametrize(("body", "status", "code"), [case[1:] for case in AMOUNT_BODIES],
                         ids=[case[0] for case in AMOUNT_BODIES])
async def test_bad_amount_body_on_deposit_withdraw_and_fund_is_refused(client: Client, body: bytes, status: int,
                                                                       code: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await listed(client, t, amount=500_000, ask_amount=100)
    before = await ledger_state(client, t.investor, t.seller)
    for path in ("/api/wallet/deposit", "/api/wallet/withdraw", f"/api/invoices/{invoice['id']}/fund"):
        await refused(await send(client, path, t.investor, body), status, code)
    assert await ledger_state(client, t.investor, t.seller) == before


@pytest.mark.parametrize("written", [b"100.0", b"1e2", b"1.00E+2", b"100.000000000000000000000000", b"1e000000000002",
                                     b"1000e-1", b"10000000000000000000000e-20"],
                         ids=["100.0", "1e2", "1.00E+2", "many-zeros", "exponent-leading-zeros", "negative-exponent",
                              "long-mantissa"])
async def test_an_integral_number_with_a_fraction_or_exponent_is_that_integer(client: Client, written: bytes) -> None:
    t = await trio(client, investor_money=1_000)
    answer = await send(client, "/api/wallet/deposit", t.investor, b'{"amount": ' + written + b"}")
    assert answer.status_code == 200
    assert (await answer.get_json())["wallet"]["balance"] == 1_100
    answer = await send(client, "/api/wallet/withdraw", t.investor, b'{"amount": ' + written + b"}")
    assert (await answer.get_json())["wallet"]["balance"] == 1_000


@pytest.mark.parametrize("body", [b'{"amount": 1e9999999999999999999}', b'{"amount": 1e-99999999999999999999}',
                                  b'{"amount": 1, "x": ' + b"[" * 500 + b"1.0" + b"]" * 500 + b"}",
                                  b'{"name": "A", "email": "a@example.com", "password": "correct-horse", '
                                  b'"role": "buyer", "x": 1e9999999999999999999}'],
                         ids=["huge-exponent", "tiny-exponent", "deep", "register-extra-field"])
async def test_numbers_no_decimal_can_hold_are_refused_not_a_500_with_an_idempotency_key(client: Client,
                                                                                        body: bytes) -> None:
    t = await trio(client, investor_money=1_000)
    headers = {**t.investor.headers, "Content-Type": "application/json", "Idempotency-Key": "k"}
    for path in ("/api/wallet/deposit", "/api/auth/register"):
        response = await client.post(path, data=body, headers=headers)
        assert response.status_code in (400, 422), await response.get_data(as_text=True)
    assert await balance(client, t.investor) == 1_000


async def test_the_maximum_written_as_an_exponent_is_exact(client: Client) -> None:
    t = await trio(client, investor_money=0)
    answer = await send(client, "/api/wallet/deposit", t.investor, b'{"amount": 1e15}')
    assert (await answer.get_json())["wallet"]["balance"] == 10**15


async def test_create_takes_amounts_written_with_a_zero_fraction(client: Client) -> None:
    t = await trio(client)
    body = {**invoice_body(t.buyer), "amount": 500_000.0, "askAmount": 4.5e5}
    answer = await send(client, "/api/invoices/create", t.seller, raw(body))
    assert answer.status_code == 201
    invoice = (await answer.get_json())["invoice"]
    assert (invoice["amount"], invoice["askAmount"]) == (500_000, 450_000)
    assert type(invoice["amount"]) is int


def invoice_body(buyer: Actor) -> dict[str, Any]:
    return {"invoiceNumber": "INV-400", "buyerId": buyer.id, "amount": 500_000, "askAmount": 450_000,
            "dueDate": iso_from_ms(START_MS + 30 * DAY_MS), "description": "goods"}


# (id, field, value, status, code) for one field of the create body; MISSING leaves the field out
MISSING = object()
CREATE_FIELDS: list[tuple[str, str, Any, int, str]] = [
    *[(f"{field}-{name}", field, value, 400, "invalid_request")
      for field in ("amount", "askAmount")
      for name, value in [("true", True), ("float-1.5", 1.5), ("string", "100"),
                          ("null", None), ("list", [100]), ("object", {"v": 100}), ("missing", MISSING)]],
    *[(f"{field}-10**30", field, 10**30, 422, "invalid_amount") for field in ("amount", "askAmount")],
    ("invoiceNumber-int", "invoiceNumber", 123, 400, "invalid_request"),
    ("invoiceNumber-null", "invoiceNumber", None, 400, "invalid_request"),
    ("invoiceNumber-missing", "invoiceNumber", MISSING, 400, "invalid_request"),
    ("buyerId-list", "buyerId", ["usr_1"], 400, "invalid_request"),
    ("buyerId-missing", "buyerId", MISSING, 400, "invalid_request"),
    ("dueDate-int", "dueDate", 20310101, 400, "invalid_request"),
    ("dueDate-missing", "dueDate", MISSING, 400, "invalid_request"),
    ("description-bool", "description", True, 400, "invalid_request"),
    ("unknown-field", "status", "funded", 400, "invalid_request"),
]


@pytest.mark.parametrize(("field", "value", "status", "code"), [case[1:] for case in CREATE_FIELDS],
                         ids=[case[0] for case in CREATE_FIELDS])
async def test_bad_create_field_is_refused_and_lists_nothing(client: Client, field: str, value: Any, status: int,
                                                             code: str) -> None:
    t = await trio(client)
    body = invoice_body(t.buyer)
    if value is MISSING:
        del body[field]
    else:
        body[field] = value
    await refused(await send(client, "/api/invoices/create", t.seller, raw(body)), status, code)
    assert await seller_invoices(client, t.seller) == []


@pytest.mark.parametrize(("body", "status", "code"), [
    (b"", 400, "invalid_request"), (b"[]", 400, "invalid_request"), (b"null", 400, "invalid_request"),
    (b'{"invoiceNumber": "INV-1"', 400, "malformed_json"), (b"\xff", 400, "malformed_json"),
    (b'{"pad": "' + b"x" * BODY_MAX + b'"}', 413, "body_too_large"),
], ids=["empty", "array", "null", "malformed", "not-utf8", "over-64KiB"])
async def test_bad_create_body_is_refused_and_lists_nothing(client: Client, body: bytes, status: int,
                                                            code: str) -> None:
    t = await trio(client)
    await refused(await send(client, "/api/invoices/create", t.seller, body), status, code)
    assert await seller_invoices(client, t.seller) == []


@pytest.mark.parametrize(("body", "status", "code"), [
    (raw({"reason": "x"}), 400, "invalid_request"), (raw([]), 400, "invalid_request"),
    (b"null", 400, "invalid_request"), (b"{", 400, "malformed_json"),
    (b'{"pad": "' + b"x" * BODY_MAX + b'"}', 413, "body_too_large"),
], ids=["unknown-field", "array", "null", "malformed", "over-64KiB"])
async def test_bad_body_on_repay_and_cancel_is_refused(client: Client, body: bytes, status: int, code: str) -> None:
    t = await trio(client, investor_money=1_000_000)
    listed_invoice, funded = await listed(client, t), await listed(client, t)
    response = await client.post(f"/api/invoices/{funded['id']}/fund", json={"amount": 450_000},
                                 headers=t.investor.headers)
    assert response.status_code == 200
    before = await ledger_state(client, t.buyer, t.investor)
    await refused(await send(client, f"/api/invoices/{funded['id']}/repay", t.buyer, body), status, code)
    await refused(await send(client, f"/api/invoices/{listed_invoice['id']}/cancel", t.seller, body), status, code)
    assert await ledger_state(client, t.buyer, t.investor) == before
    assert sorted(r["status"] for r in (await (await client.get(
        "/api/invoices/seller", headers=t.seller.headers)).get_json())["invoices"]) == ["funded", "listed"]


@pytest.mark.parametrize(("path", "body", "status", "code"), [
    ("register", b'{"name": "A", "email": 5, "password": "correct-horse", "role": "seller"}', 400,
     "invalid_request"),
    ("register", b'{"name": "A", "email": "a@example.com", "role": "seller"}', 400, "invalid_request"),
    ("register", b'{"name": "A", "email": "a@example.com", "password": "correct-horse", "role": "seller", '
                 b'"admin": true}', 400, "invalid_request"),
    ("register", b'{"name": ', 400, "malformed_json"),
    ("register", b"", 400, "invalid_request"),
    ("login", b'{"email": "a@example.com"}', 400, "invalid_request"),
    ("login", b'{"email": ["a@example.com"], "password": "x"}', 400, "invalid_request"),
    ("login", b"[1, 2]", 400, "invalid_request"),
    ("login", b"{{", 400, "malformed_json"),
    ("login", b'{"pad": "' + b"x" * BODY_MAX + b'"}', 413, "body_too_large"),
], ids=["email-int", "no-password", "unknown-field", "malformed", "empty", "login-no-password", "login-list",
        "login-array", "login-malformed", "login-over-64KiB"])
async def test_bad_auth_body_is_refused(client: Client, path: str, body: bytes, status: int, code: str) -> None:
    response = await client.post(f"/api/auth/{path}", data=body, headers={"Content-Type": "application/json"})
    await refused(response, status, code)


# --- query strings ----------------------------------------------------------------------------------------

LIST_ROUTES = [
    ("/api/invoices/marketplace", "investor"), ("/api/invoices/seller", "seller"),
    ("/api/invoices/investor", "investor"), ("/api/invoices/buyer", "buyer"),
    ("/api/wallet/transactions", "investor"), ("/api/users/portfolio", "investor"),
]
BAD_LIMITS = ["0", "101", "abc", "-1", "1.5", "1e1", "%20", "99999999999999999999999"]
CURSOR_PARAM = {"/api/wallet/transactions": "before"}
BAD_CURSORS = {
    "cursor": ["garbage", "1:", ":inv_1", "1:inv/1", "x" * 500, "1.5:inv_1"],
    "before": ["garbage", "1", "1-", "-0", "1-0-0", "1.5-0"],
}


def list_caller(t: Trio, path: str) -> Actor:
    role = dict(LIST_ROUTES)[path]
    return {"seller": t.seller, "investor": t.investor, "buyer": t.buyer}[role]


async def refused_queries(client: Client, path: str, caller: Actor, queries: list[str]) -> list[str]:
    """The queries not answered with 400 invalid_query, with what came back instead."""
    wrong = []
    for query in queries:
        response = await client.get(f"{path}?{query}", headers=caller.headers)
        body = await response.get_json()
        code = body["error"]["code"] if isinstance(body, dict) and "error" in body else None
        if (response.status_code, code) != (400, "invalid_query"):
            wrong.append(f"{query} -> {response.status_code} {code}")
    return wrong


@pytest.mark.parametrize("path", [path for path, _ in LIST_ROUTES])
async def test_bad_limit_or_cursor_is_400_invalid_query(client: Client, path: str) -> None:
    t = await trio(client)
    caller = list_caller(t, path)
    param = CURSOR_PARAM.get(path, "cursor")
    queries = [f"limit={limit}" for limit in BAD_LIMITS] + [f"{param}={value}" for value in BAD_CURSORS[param]]
    # an empty value is not a value of the parameter's schema (the OpenAPI document): refused, not a default
    queries += ["limit=", f"{param}="]
    assert await refused_queries(client, path, caller, queries) == []
    for query in ("limit=1", "limit=100", ""):
        assert (await client.get(f"{path}?{query}", headers=caller.headers)).status_code == 200, query


@pytest.mark.parametrize("path", [path for path, _ in LIST_ROUTES])
async def test_limit_of_a_non_ascii_digit_is_400_invalid_query(client: Client, path: str) -> None:
    """'\u00b2' (superscript two) passes str.isdigit() but not int()."""
    t = await trio(client)
    assert await refused_queries(client, path, list_caller(t, path), ["limit=%C2%B2", "limit=1%C2%B2"]) == []


async def test_before_that_is_not_a_stream_id_is_400_invalid_query(client: Client) -> None:
    """Almost digits-digits: a trailing newline, non-ASCII digits."""
    t = await trio(client)
    queries = ["before=1-0%0A", "before=%D9%A1-0"]
    assert await refused_queries(client, "/api/wallet/transactions", t.investor, queries) == []


@pytest.mark.parametrize("before", ["99999999999999999999-0", "18446744073709551616-0", "1-18446744073709551616"])
async def test_before_above_what_redis_holds_reads_as_past_every_entry(client: Client, before: str) -> None:
    """The document's pattern (digits-digits) admits it, so it is a bound, clamped to 2^64 - 1: every entry."""
    t = await trio(client)
    response = await client.get(f"/api/wallet/transactions?before={before}", headers=t.investor.headers)
    assert response.status_code == 200
    everything = await (await client.get("/api/wallet/transactions", headers=t.investor.headers)).get_json()
    if before.startswith("1-"):  # 1-(2^64-1): only entries before millisecond 1, which there are none of
        assert (await response.get_json())["transactions"] == []
    else:
        assert (await response.get_json()) == everything


MARKET_QUERIES = ["sort=bogus", "sort=NEWEST", "sort=-amount", "minAmount=abc", "maxAmount=1.5",
                  "minAmount=99999999999999999", "dueBefore=garbage", "dueAfter=2031-13-01",
                  "dueAfter=2031-01-01T00:00:00", "dueBefore=31%2F01%2F2031"]


@pytest.mark.parametrize("query", MARKET_QUERIES)
async def test_bad_marketplace_query_is_400_invalid_query(client: Client, query: str) -> None:
    t = await trio(client)
    await listed(client, t)
    await refused(await client.get(f"/api/invoices/marketplace?{query}", headers=t.investor.headers), 400,
                  "invalid_query")


@pytest.mark.parametrize("path", ["/api/invoices/seller", "/api/invoices/investor", "/api/invoices/buyer"])
async def test_bad_status_filter_on_own_lists_is_400_invalid_query(client: Client, path: str) -> None:
    t = await trio(client)
    caller = list_caller(t, path)
    for status in ("bogus", "LISTED", "listed,funded"):
        await refused(await client.get(f"{path}?status={status}", headers=caller.headers), 400, "invalid_query")


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/api/wallet/deposit", "OPTIONS, POST"),
    ("DELETE", "/api/invoices/inv_1", "GET, HEAD, OPTIONS"),
    ("PUT", "/api/auth/login", "OPTIONS, POST"),
    ("POST", "/health", "GET, HEAD, OPTIONS"),
])
async def test_wrong_method_is_405_with_allow(client: Client, method: str, path: str, allowed: str) -> None:
    response = await client.open(path, method=method, json=None)
    assert response.status_code == 405
    assert response.headers["Allow"] == allowed
    assert await error_code(response) == "method_not_allowed"


async def test_options_of_create_offers_only_post(client: Client) -> None:
    """/api/invoices/create is not also an invoice id for GET /api/invoices/{invoiceId}."""
    response = await client.options("/api/invoices/create")
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert (await client.get("/api/invoices/create")).status_code == 405
