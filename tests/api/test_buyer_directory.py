"""GET /api/users/buyers: the buyer directory that the web app's sellers and investors pick from."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from finance.auth import directory
from finance.market import Market
from tests.helpers.api import get_json, refused, register


async def test_buyers_are_listed_by_display_name_and_found_by_any_case_prefix(client: Client) -> None:
    zenith = await register(client, "buyer", "Zara", company="Zenith Steel")
    acme = await register(client, "buyer", "Asha", company="ACME Industries")
    acme_corp = await register(client, "buyer", "Arun")  # no company: the name is the display name
    acme_corp_two = await register(client, "buyer", "Acme")
    seller = await register(client, "seller", "Acme Seller")  # not a buyer: never listed
    investor = await register(client, "investor")

    everyone = await get_json(client, "/api/users/buyers", seller)
    assert everyone == {"buyers": [{"id": acme_corp_two.id, "name": "Acme"}, {"id": acme.id, "name": "ACME Industries"},
                                   {"id": acme_corp.id, "name": "Arun"}, {"id": zenith.id, "name": "Zenith Steel"}]}
    found = await get_json(client, "/api/users/buyers?q=acme", investor)
    assert found == {"buyers": [{"id": acme_corp_two.id, "name": "Acme"}, {"id": acme.id, "name": "ACME Industries"}]}
    assert await get_json(client, "/api/users/buyers?q=ACME%20i", investor) == {
        "buyers": [{"id": acme.id, "name": "ACME Industries"}]}
    assert await get_json(client, "/api/users/buyers?q=nobody", investor) == {"buyers": []}
    first = await get_json(client, "/api/users/buyers?limit=1", investor)
    assert first == {"buyers": [{"id": acme_corp_two.id, "name": "Acme"}]}


async def test_the_buyer_directory_refuses_bad_queries_and_strangers(client: Client) -> None:
    seller = await register(client, "seller")
    await refused(await client.get("/api/users/buyers"), 401, "unauthorized")
    await refused(await client.get("/api/users/buyers?limit=0", headers=seller.headers), 400, "invalid_query")
    await refused(await client.get("/api/users/buyers?limit=101", headers=seller.headers), 400, "invalid_query")
    await refused(await client.get("/api/users/buyers?q=" + "a" * 201, headers=seller.headers), 400, "invalid_query")


async def test_buyers_registered_before_the_directory_are_indexed_once(client: Client, market: Market) -> None:
    old = await register(client, "buyer", "Old", company="Older Steel")
    await register(client, "seller", "Seller")
    new = await register(client, "buyer", "New", company="Newer Mills")
    await market.redis.delete(market.keys.buyers_by_name())  # as on a Redis from before the directory
    assert await get_json(client, "/api/users/buyers", old) == {"buyers": []}
    assert await directory.index_buyers(market) == 2
    assert await directory.index_buyers(market) == 2  # again: nothing twice
    assert await get_json(client, "/api/users/buyers", old) == {
        "buyers": [{"id": new.id, "name": "Newer Mills"}, {"id": old.id, "name": "Older Steel"}]}
