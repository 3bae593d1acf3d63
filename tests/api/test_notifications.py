"""GET /api/users/notifications and POST /api/users/notifications/read, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from quart.typing import TestClientProtocol as Client

from finance.clock import iso_from_ms
from tests.helpers.api import Actor, create_invoice, deposit, fund, register, trio
from tests.helpers.servers import market_of, stream_ids


async def notifications(client: Client, actor: Actor, query: str = "", status: int = 200) -> dict[str, Any]:
    response = await client.get(f"/api/users/notifications{query}", headers=actor.headers)
    assert response.status_code == status, await response.get_data(as_text=True)
    body: dict[str, Any] = await response.get_json()
    return body


async def mark_read(client: Client, actor: Actor, body: Any, status: int = 200) -> dict[str, Any]:
    response = await client.post("/api/users/notifications/read", json=body, headers=actor.headers)
    assert response.status_code == status, await response.get_data(as_text=True)
    result: dict[str, Any] = await response.get_json()
    return result


async def test_notifications_are_the_users_events_newest_first(app: Any, client: Client) -> None:
    t = await trio(client, investor_money=1_000_000)
    invoice = await create_invoice(client, t.seller, t.buyer, amount=500_000, ask_amount=450_000)
    assert (await fund(client, t.investor, invoice["id"], 470_000)).status_code == 200
    body = await notifications(client, t.investor)
    market = market_of(app)
    ids = await stream_ids(market, market.keys.user_stream(t.investor.id))
    assert [n["id"] for n in body["notifications"]] == ids[::-1]
    assert [n["event"] for n in body["notifications"]] == ["investmentSuccess", "walletUpdated", "walletUpdated"]
    newest = body["notifications"][0]
    assert newest == {
        "id": ids[-1], "event": "investmentSuccess",
        "data": {"invoiceId": invoice["id"], "invoiceNumber": invoice["invoiceNumber"], "amount": 470_000,
                 "expectedReturn": 500_000, "profit": 30_000, "newBalance": 530_000},
        "createdAt": iso_from_ms(int(ids[-1].split("-")[0])), "read": False,
    }
    assert body["unread"] == 3
    assert body["nextCursor"] is None


async def test_pages_follow_next_cursor_without_overlap(client: Client) -> None:
    user = await register(client, "investor")
    for amount in range(1, 8):
        await deposit(client, user, amount)
    seen: list[int] = []
    query = "?limit=3"
    pages = 0
    while True:
        body = await notifications(client, user, query)
        pages += 1
        seen += [n["data"]["transaction"]["amount"] for n in body["notifications"]]
        assert body["unread"] == 7
        if body["nextCursor"] is None:
            break
        query = f"?limit=3&before={body['nextCursor']}"
    assert seen == [7, 6, 5, 4, 3, 2, 1]
    assert pages == 3


async def test_marking_read_sets_read_flags_and_the_unread_count(client: Client) -> None:
    user = await register(client, "investor")
    for amount in (1, 2, 3, 4):
        await deposit(client, user, amount)
    listed = (await notifications(client, user))["notifications"]
    second_oldest = listed[2]["id"]
    assert await mark_read(client, user, {"upTo": second_oldest}) == {"readUpTo": second_oldest, "unread": 2}
    body = await notifications(client, user)
    assert [n["read"] for n in body["notifications"]] == [False, False, True, True]
    assert body["unread"] == 2
    await deposit(client, user, 5)
    assert (await notifications(client, user))["unread"] == 3


async def test_the_read_marker_never_moves_backwards(client: Client) -> None:
    user = await register(client, "investor")
    for amount in (1, 2, 3):
        await deposit(client, user, amount)
    listed = (await notifications(client, user))["notifications"]
    newest, oldest = listed[0]["id"], listed[-1]["id"]
    assert await mark_read(client, user, {"upTo": newest}) == {"readUpTo": newest, "unread": 0}
    assert await mark_read(client, user, {"upTo": oldest}) == {"readUpTo": newest, "unread": 0}
    assert all(n["read"] for n in (await notifications(client, user))["notifications"])


async def test_marking_past_the_newest_event_leaves_later_events_unread(client: Client) -> None:
    user = await register(client, "investor")
    await deposit(client, user, 1)
    newest = (await notifications(client, user))["notifications"][0]["id"]
    assert await mark_read(client, user, {"upTo": "99999999999999-0"}) == {"readUpTo": newest, "unread": 0}
    await deposit(client, user, 2)
    body = await notifications(client, user)
    assert body["unread"] == 1
    assert [n["read"] for n in body["notifications"]] == [False, True]


async def test_marking_read_with_no_notifications_is_a_no_op(client: Client) -> None:
    user = await register(client, "buyer")
    assert await mark_read(client, user, {"upTo": "1-0"}) == {"readUpTo": None, "unread": 0}
    assert await notifications(client, user) == {"notifications": [], "unread": 0, "nextCursor": None}


@pytest.mark.parametrize("body", [{"upTo": "abc"}, {"upTo": "1-0\n"}, {"upTo": "1-0-0"},
                                  {"upTo": 5}, {}, {"upTo": "1-0", "extra": 1}])
async def test_a_malformed_up_to_is_400(client: Client, body: Any) -> None:
    user = await register(client, "investor")
    assert (await mark_read(client, user, body, status=400))["error"]["code"] in {"invalid_request"}


@pytest.mark.parametrize("query", ["?before=abc", "?before=1-0-0", "?limit=0", "?limit=101", "?limit=x"])
async def test_a_malformed_query_is_400(client: Client, query: str) -> None:
    user = await register(client, "investor")
    assert (await notifications(client, user, query, status=400))["error"]["code"] == "invalid_query"


async def test_notifications_need_a_token_and_show_only_the_callers_events(client: Client) -> None:
    response = await client.get("/api/users/notifications")
    assert response.status_code == 401
    response = await client.post("/api/users/notifications/read", json={"upTo": "1-0"})
    assert response.status_code == 401
    alice, bob = await register(client, "investor"), await register(client, "investor")
    await deposit(client, alice, 11)
    await deposit(client, bob, 22)
    assert [n["data"]["balance"] for n in (await notifications(client, alice))["notifications"]] == [11]
    assert [n["data"]["balance"] for n in (await notifications(client, bob))["notifications"]] == [22]
    # marking read with an id from someone else's stream moves only the caller's own marker
    bob_id = (await notifications(client, bob))["notifications"][0]["id"]
    await mark_read(client, alice, {"upTo": bob_id})
    assert (await notifications(client, bob))["unread"] == 1
