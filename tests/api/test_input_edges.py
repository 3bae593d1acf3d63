"""Inputs at the edges of what Redis and ISO 8601 can hold are refused with a 4xx, never a 500."""

from __future__ import annotations

import pytest
from quart.typing import TestClientProtocol as Client

from tests.helpers.api import error_code, trio


@pytest.mark.parametrize("due_date", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
async def test_due_dates_outside_what_we_can_write_are_422(client: Client, due_date: str) -> None:
    t = await trio(client, investor_money=0)
    body = {"invoiceNumber": "EDGE-1", "buyerId": t.buyer.id, "amount": 1_000, "askAmount": 900, "dueDate": due_date}
    response = await client.post("/api/invoices/create", json=body, headers=t.seller.headers)
    assert (response.status_code, await error_code(response)) == (422, "invalid_field")


@pytest.mark.parametrize(("path", "items"), [("/api/wallet/transactions", "transactions"),
                                             ("/api/users/notifications", "notifications")])
async def test_before_the_first_possible_id_is_an_empty_page(client: Client, path: str, items: str) -> None:
    """0-0 is a stream id (the document's pattern admits it) below every entry: nothing comes before it."""
    t = await trio(client)  # the investor has a deposit: a transaction and notifications
    everything = await (await client.get(path, headers=t.investor.headers)).get_json()
    assert everything[items] != []
    response = await client.get(f"{path}?before=0-0", headers=t.investor.headers)
    assert response.status_code == 200
    page = await response.get_json()
    assert page[items] == [] and page["nextCursor"] is None


async def test_a_due_date_long_past_is_not_in_the_future(client: Client) -> None:
    t = await trio(client, investor_money=0)
    body = {"invoiceNumber": "EDGE-2", "buyerId": t.buyer.id, "amount": 1_000, "askAmount": 900,
            "dueDate": "1969-12-31"}
    response = await client.post("/api/invoices/create", json=body, headers=t.seller.headers)
    assert (response.status_code, await error_code(response)) == (422, "due_date_not_in_future")
