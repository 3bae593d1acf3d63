"""Builders shared by the tests: users, money, invoices, through the HTTP API like any client."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

from quart.typing import TestClientProtocol as Client

from finance.clock import iso_from_ms
from finance.keys import escrow_account
from finance.market import Market

_serial = itertools.count(1)
DAY_MS = 86_400_000
RUPEE = 100  # paise
START_MS = 1_900_000_000_000  # 2030-03-17T17:46:40Z: the pinned clock of the API tests


@dataclass
class Actor:
    id: str
    token: str
    role: str
    name: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: Client, role: str, name: str | None = None,
                   company: str | None = None) -> Actor:
    n = next(_serial)
    email = f"{role}{n}@example.com"
    body: dict[str, Any] = {"name": name or f"{role.title()} {n}", "email": email, "password": "correct-horse",
                            "role": role}
    if company:
        body["company"] = company
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 201, await response.get_data(as_text=True)
    data = await response.get_json()
    return Actor(data["user"]["id"], data["token"], role, body["name"], email)


async def deposit(client: Client, actor: Actor, amount: int) -> dict[str, Any]:
    response = await client.post("/api/wallet/deposit", json={"amount": amount}, headers=actor.headers)
    assert response.status_code == 200, await response.get_data(as_text=True)
    data: dict[str, Any] = await response.get_json()
    return data


async def balance(client: Client, actor: Actor) -> int:
    response = await client.get("/api/wallet", headers=actor.headers)
    assert response.status_code == 200
    value: int = (await response.get_json())["balance"]
    return value


def due_in_days(days: int, now_ms: int | None = None) -> str:
    import time

    base = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    return iso_from_ms(base + days * DAY_MS)


async def create_invoice(client: Client, seller: Actor, buyer: Actor, amount: int = 100_000 * RUPEE,
                         ask_amount: int | None = None, due_days: int = 30, number: str | None = None,
                         now_ms: int | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "invoiceNumber": number or f"INV-{next(_serial):05d}",
        "buyerId": buyer.id,
        "amount": amount,
        "askAmount": ask_amount if ask_amount is not None else amount * 9 // 10,
        "dueDate": due_in_days(due_days, now_ms),
        **extra,
    }
    response = await client.post("/api/invoices/create", json=body, headers=seller.headers)
    assert response.status_code == 201, await response.get_data(as_text=True)
    invoice: dict[str, Any] = (await response.get_json())["invoice"]
    return invoice


async def fund(client: Client, investor: Actor, invoice_id: str, amount: int) -> Any:
    return await client.post(f"/api/invoices/{invoice_id}/fund", json={"amount": amount}, headers=investor.headers)


async def error_code(response: Any) -> str:
    body = await response.get_json()
    code: str = body["error"]["code"]
    return code


@dataclass
class Trio:
    seller: Actor
    investor: Actor
    buyer: Actor


async def trio(client: Client, investor_money: int = 10_000_000 * RUPEE) -> Trio:
    seller = await register(client, "seller", company="Seller Pvt Ltd")
    investor = await register(client, "investor")
    buyer = await register(client, "buyer", company="Buyer Corp")
    if investor_money:
        await deposit(client, investor, investor_money)
    return Trio(seller, investor, buyer)


async def listed(client: Client, t: Trio, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("amount", 500_000)
    kwargs.setdefault("ask_amount", 450_000)
    return await create_invoice(client, t.seller, t.buyer, now_ms=START_MS, **kwargs)


async def refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, await response.get_data(as_text=True)
    body = await response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


async def ledger_state(client: Client, *actors: Actor) -> list[tuple[int, list[str]]]:
    """Each actor's balance and transaction ids: equal before and after a refusal means nothing moved."""
    state = []
    for actor in actors:
        wallet = await (await client.get("/api/wallet", headers=actor.headers)).get_json()
        page = await (await client.get("/api/wallet/transactions?limit=100", headers=actor.headers)).get_json()
        state.append((wallet["balance"], [row["id"] for row in page["transactions"]]))
    return state


async def post(client: Client, path: str, actor: Actor, body: Any = None) -> Any:
    if body is None:
        return await client.post(path, headers=actor.headers)
    return await client.post(path, json=body, headers=actor.headers)


async def get_json(client: Client, path: str, actor: Actor, status: int = 200) -> Any:
    response = await client.get(path, headers=actor.headers)
    assert response.status_code == status, await response.get_data(as_text=True)
    return await response.get_json()


async def post_json(client: Client, path: str, actor: Actor, body: Any = None, status: int = 200) -> Any:
    if body is None:
        response = await client.post(path, headers=actor.headers)
    else:
        response = await client.post(path, json=body, headers=actor.headers)
    assert response.status_code == status, await response.get_data(as_text=True)
    return await response.get_json()


async def listed_invoice(client: Client, seller: Actor, buyer: Actor, **kwargs: Any) -> dict[str, Any]:
    return await create_invoice(client, seller, buyer, now_ms=START_MS, **kwargs)


async def repay(client: Client, buyer: Actor, invoice_id: str, amount: int | None = None) -> Any:
    """POST /repay: ``amount`` paise, or (None) all that is outstanding."""
    body = None if amount is None else {"amount": amount}
    return await post(client, f"/api/invoices/{invoice_id}/repay", buyer, body)


async def escrow(market: Market, invoice_id: str) -> int:
    """What the invoice's escrow account holds, paise."""
    return int(await market.redis.hget(market.keys.wallet(escrow_account(invoice_id)), "balance") or 0)
