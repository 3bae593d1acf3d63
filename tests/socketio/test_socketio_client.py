"""/socket.io/ with the real socket.io-client 4.8 (tests/js, from npm) against the app under Hypercorn on
a real redis-server: each transport, both ways to authenticate, refusals, recovery, tabs, isolation.
Every test asserts the exact events a client saw."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.conftest import Backend
from tests.helpers.api import due_in_days
from tests.helpers.node_client import NodeClient, ensure_installed
from tests.helpers.servers import Http, serving

ALLOWED = "http://localhost:3000"
_numbers = itertools.count(1)


@pytest.fixture(scope="module", autouse=True)
def _npm_installed() -> None:
    ensure_installed()


@dataclass
class Site:
    http: Http
    url: str
    port: int

    async def user(self, role: str, name: str) -> dict[str, Any]:
        return await self.http.register(role, name)

    async def deposit(self, user: dict[str, Any], amount: int) -> dict[str, Any]:
        data: dict[str, Any] = await self.http.call("POST", "/api/wallet/deposit", user["token"], {"amount": amount})
        return data

    async def list_invoice(self, seller: dict[str, Any], buyer: dict[str, Any]) -> dict[str, Any]:
        body = {"invoiceNumber": f"SIO-{next(_numbers):05d}", "buyerId": buyer["id"], "amount": 100_000,
                "askAmount": 90_000, "dueDate": due_in_days(30)}
        data: dict[str, Any] = await self.http.call("POST", "/api/invoices/create", seller["token"], body, expect=201)
        return data["invoice"]


@pytest.fixture
async def site(real_backend: Backend) -> AsyncIterator[Site]:
    async for value in _site(real_backend):
        yield value


async def _site(real_backend: Backend, holder: list[Any] | None = None) -> AsyncIterator[Site]:
    # sessions checked often, so that a logout closes sockets within the test's patience
    overrides: dict[str, Any] = {"cors_origins": (ALLOWED,), "websocket_session_check_seconds": 0.2}
    settings = real_backend.settings(**overrides)
    app = real_backend.app(**overrides)
    if holder is not None:
        holder.append(app)
    async with serving(app, settings) as port, aiohttp.ClientSession() as session:
        base = f"http://127.0.0.1:{port}"
        yield Site(Http(session, base), base, port)


def names(lines: list[dict[str, Any]]) -> list[str]:
    return [line["event"] for line in lines]


async def connected(client: NodeClient, transport: str | None = None) -> dict[str, Any]:
    line, before = await client.until("connect")
    assert [item for item in before if item["type"] != "upgrade"] == []
    if transport is not None:
        assert line["transport"] == transport
    return line


@pytest.mark.parametrize(("transports", "expected"), [(["websocket"], "websocket"), (["polling"], "polling")])
async def test_one_transport_delivers_the_users_and_the_markets_events(site: Site, transports: list[str],
                                                                       expected: str) -> None:
    investor = await site.user("investor", "Ivy Investor")
    seller, buyer = await site.user("seller", "Sam Seller"), await site.user("buyer", "Bea Buyer")
    async with NodeClient(site.url, transports=transports, auth={"token": investor["token"]}) as client:
        line = await connected(client, expected)
        assert line["recovered"] is False
        deposit = await site.deposit(investor, 500)
        invoice = await site.list_invoice(seller, buyer)
        # one event on each stream: two read by the same XREAD may come in either order
        got = sorted(await client.events(2), key=lambda line: line["event"] != "walletUpdated")
        assert names(got) == ["walletUpdated", "newInvoiceListed"]
        wallet, offset = got[0]["args"]
        assert wallet["balance"] == 500 == deposit["wallet"]["balance"] if "wallet" in deposit else wallet["balance"]
        assert wallet["transaction"]["amount"] == 500 and offset.startswith("u")
        listed, market_offset = got[1]["args"]
        assert listed["id"] == invoice["id"] and listed["amount"] == 100_000 and market_offset.startswith("m")
        await client.nothing_within(0.3)


async def test_polling_then_upgrade_keeps_every_event_once_in_order(site: Site) -> None:
    investor = await site.user("investor", "Una Upgrade")
    async with NodeClient(site.url, transports=["polling", "websocket"], auth={"token": investor["token"]}) as client:
        await client.until("connect")
        for amount in (1, 2, 3):
            await site.deposit(investor, amount)
        upgraded = next((line for line in client.seen if line["type"] == "upgrade"), None)
        if upgraded is None:
            upgraded, _ = await client.until("upgrade")
        assert upgraded["transport"] == "websocket"
        for amount in (4, 5):
            await site.deposit(investor, amount)
        got = await client.events(5)
        assert [line["args"][0]["transaction"]["amount"] for line in got] == [1, 2, 3, 4, 5]
        await client.nothing_within(0.3)


async def test_emit_authenticate_answers_authenticated_and_the_ack_and_nothing_comes_before(site: Site) -> None:
    investor = await site.user("investor", "Seed Style")
    seller, buyer = await site.user("seller", "S"), await site.user("buyer", "B")
    async with NodeClient(site.url, transports=["websocket", "polling"]) as client:
        await connected(client, "websocket")
        await site.list_invoice(seller, buyer)  # before auth: not delivered
        await client.nothing_within(0.3)
        await client.command(cmd="emit", event="authenticate", args=[investor["token"]], ack=True)
        answer = {"userId": investor["id"], "role": "investor"}
        first, second = await client.next(), await client.next()
        assert sorted([first["type"], second["type"]]) == ["ack", "event"]
        event = first if first["type"] == "event" else second
        ack = second if event is first else first
        assert event["event"] == "authenticated" and event["args"] == [answer]
        assert ack["args"] == [answer]
        await site.deposit(investor, 42)
        got = await client.events(1)
        assert names(got) == ["walletUpdated"] and got[0]["args"][0]["balance"] == 42


async def test_bad_tokens_get_connect_error_and_auth_error(site: Site) -> None:
    async with NodeClient(site.url, transports=["websocket"], auth={"token": "not-a-token"}) as client:
        error, _ = await client.until("connect_error")
        assert error["message"] == "the token is unknown, expired or revoked"
        assert error["data"] == {"code": "unauthorized", "message": "the token is unknown, expired or revoked"}
        await client.nothing_within(0.5)  # a refused CONNECT is not retried
    async with NodeClient(site.url, transports=["polling"]) as client:
        await connected(client, "polling")
        await client.command(cmd="emit", event="authenticate", args=["not-a-token"], ack=True)
        lines = [await client.next(), await client.next()]
        refusal = {"code": "unauthorized", "message": "the token is unknown, expired or revoked"}
        assert {"type": "event", "event": "auth_error", "args": [refusal]} in lines
        assert {"type": "ack", "event": "authenticate", "args": [refusal]} in lines


async def test_recovery_after_a_dropped_transport_gets_the_missed_events_once_in_order(site: Site) -> None:
    investor = await site.user("investor", "Rita Recover")
    seller, buyer = await site.user("seller", "S2"), await site.user("buyer", "B2")
    # the client comes back when told, after the missed movements (its own timer could beat them under load)
    async with NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]},
                          reconnection=False) as client:
        first = await connected(client)
        await site.deposit(investor, 1)
        await site.list_invoice(seller, buyer)
        before = await client.events(2)
        await client.command(cmd="drop")
        gone, _ = await client.until("disconnect")
        assert gone["reason"] == "forced close"  # engine.close(): no 41, so recoverable
        missed = [await site.deposit(investor, 2), await site.list_invoice(seller, buyer),
                  await site.deposit(investor, 3), await site.list_invoice(seller, buyer)]
        await client.command(cmd="connect")  # with its pid and offset, as its reconnection timer would
        back, replayed = await client.until("connect")
        # socket.io-client emits the missed events (they came before the 40) ahead of "connect"
        assert back["recovered"] is True and back["id"] != first["id"]
        assert {line["type"] for line in replayed} == {"event"}
        await site.deposit(investor, 4)
        after = [*replayed, *await client.events(5 - len(replayed))]
        assert sorted(names(before)) == ["newInvoiceListed", "walletUpdated"]
        # each stream exactly once and in its order (a replay goes stream by stream, as on /ws)
        assert sorted(names(after)) == ["newInvoiceListed"] * 2 + ["walletUpdated"] * 3
        assert after[-1]["event"] == "walletUpdated" and after[-1]["args"][0]["balance"] == 10
        assert [line["args"][0]["balance"] for line in after if line["event"] == "walletUpdated"] == [3, 6, 10]
        assert [line["args"][0]["id"] for line in after if line["event"] == "newInvoiceListed"] == [
            missed[1]["id"], missed[3]["id"]]
        await client.nothing_within(0.3)


async def test_a_clean_leave_is_not_recovered(site: Site) -> None:
    investor = await site.user("investor", "Leo Leave")
    async with NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]}) as client:
        await connected(client)
        await site.deposit(investor, 1)
        await client.events(1)
        await client.command(cmd="disconnect")  # 41
        gone, _ = await client.until("disconnect")
        assert gone["reason"] == "io client disconnect"
        await site.deposit(investor, 2)  # while away: not resumed after a clean leave
        await client.command(cmd="connect")  # sends its pid and offset all the same
        line, before = await client.until("connect")
        assert line["recovered"] is False and before == []
        await site.deposit(investor, 4)
        got = await client.events(1)
        assert got[0]["args"][0]["balance"] == 7
        await client.nothing_within(0.3)


def by_name(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """Each event's data by its name (each name once)."""
    assert len({line["event"] for line in lines}) == len(lines), names(lines)
    return {line["event"]: line["args"][0] for line in lines}


async def test_several_tabs_each_get_every_event_and_no_user_gets_anothers(site: Site) -> None:
    investor, other = await site.user("investor", "Tab User"), await site.user("investor", "Other User")
    seller, buyer = await site.user("seller", "S3"), await site.user("buyer", "B3")
    async with (NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]}) as tab1,
                NodeClient(site.url, transports=["polling"], auth={"token": investor["token"]}) as tab2,
                NodeClient(site.url, transports=["websocket"], auth={"token": other["token"]}) as stranger):
        for client in (tab1, tab2, stranger):
            await client.until("connect")
        await site.deposit(investor, 7)
        invoice = await site.list_invoice(seller, buyer)
        await site.deposit(other, 9)
        # one event on each stream: two read by the same XREAD may come in either order
        for tab in (tab1, tab2):
            got = by_name(await tab.events(2))
            assert got.keys() == {"walletUpdated", "newInvoiceListed"}
            assert got["walletUpdated"]["balance"] == 7 and got["newInvoiceListed"]["id"] == invoice["id"]
            await tab.nothing_within(0.3)
        got = by_name(await stranger.events(2))
        assert got.keys() == {"newInvoiceListed", "walletUpdated"}
        assert got["walletUpdated"]["balance"] == 9


async def test_another_namespace_is_refused_naming_it(site: Site) -> None:
    investor = await site.user("investor", "Nina Namespace")
    async with NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]}) as client:
        await connected(client)
        await client.command(cmd="namespace", namespace="/admin")
        line, _ = await client.until("namespace_error")
        assert line == {"type": "namespace_error", "namespace": "/admin", "message": "Invalid namespace"}


async def test_origin_refused_and_cors_on_polling(site: Site) -> None:
    investor = await site.user("investor", "Olga Origin")
    async with NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]},
                          headers={"Origin": "http://evil.example"}) as client:
        error, _ = await client.until("connect_error")
        assert error["message"] == "websocket error"
        assert error["description"] == "Unexpected server response: 403"
    async with NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]},
                          headers={"Origin": ALLOWED}) as client:
        await connected(client, "websocket")
    polling = f"{site.url}/socket.io/?EIO=4&transport=polling"
    session = site.http.session
    async with session.get(polling, headers={"Origin": ALLOWED}) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
        assert (await response.text()).startswith('0{"sid":')
    async with session.get(polling, headers={"Origin": "http://evil.example"}) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
    async with session.get(polling, headers={"Origin": site.url}) as response:  # the app's own origin
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers


async def test_an_unauthenticated_socket_is_closed_after_ten_seconds(site: Site) -> None:
    async with NodeClient(site.url, transports=["websocket"], reconnectionDelay=60_000) as client:
        await connected(client)
        started = asyncio.get_running_loop().time()
        line, before = await client.until("disconnect", wait_seconds=15)
        waited = asyncio.get_running_loop().time() - started
        assert line["reason"] == "transport close" and before == []
        assert 9 <= waited <= 11.5


@pytest.mark.parametrize("transport", ["websocket", "polling"])
async def test_a_logout_disconnects_from_the_server_side_and_the_client_does_not_come_back(
        site: Site, transport: str) -> None:
    investor = await site.user("investor", "Lou Logout")
    async with NodeClient(site.url, transports=[transport], auth={"token": investor["token"]}) as client:
        await connected(client)
        await site.http.session.post(f"{site.url}/api/auth/logout",
                                     headers={"Authorization": f"Bearer {investor['token']}"})
        line, before = await client.until("disconnect", wait_seconds=5)
        assert line["reason"] == "io server disconnect" and before == []
        await client.nothing_within(0.5)


async def test_the_client_answers_engine_io_pings_and_stays_connected(real_backend: Backend) -> None:
    holder: list[Any] = []
    async for site in _site(real_backend, holder):
        the_server = holder[0].extensions["socketio"]
        # every socket pinged every second (the client, told so in the handshake, allows 2 s between pings)
        the_server.ping_interval, the_server.ping_timeout = 1.0, 1.0
        investor = await site.user("investor", "Pam Ping")
        async with NodeClient(site.url, transports=["websocket"], auth={"token": investor["token"]}) as client:
            await connected(client)
            await asyncio.sleep(3.5)  # several pings, each answered: nobody is reaped
            (socket,) = the_server.sockets
            assert socket.pinged_at > 0
            async with asyncio.timeout(2):  # the latest ping answered (read between a ping and its pong, wait)
                while socket.last_pong < socket.pinged_at:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
            # read by the lean socket (streams/lean.py), with no task of its own and no Quart in between
            (lean,) = the_server.lean.sockets
            assert lean.subscriber is socket and not lean.transport.is_closing()
            await site.deposit(investor, 5)
            got, before = await client.until("event")
            assert before == [] and got["event"] == "walletUpdated"


async def test_a_socket_that_leaves_a_ping_unanswered_is_closed(real_backend: Backend) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    holder: list[Any] = []
    async for site in _site(real_backend, holder):
        the_server = holder[0].extensions["socketio"]
        the_server.ping_interval, the_server.ping_timeout = 1.0, 1.0
        investor = await site.user("investor", "Deaf Dan")
        url = f"ws://127.0.0.1:{site.port}/socket.io/?EIO=4&transport=websocket"
        async with connect(url) as ws:
            assert str(await ws.recv()).startswith('0{"sid":')
            await ws.send('40{"token":"' + investor["token"] + '"}')
            assert str(await ws.recv()).startswith('40{"sid":')
            seen = []
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(5):
                    while True:
                        seen.append(await ws.recv())  # pings, never answered
            assert seen == ["2"]  # pinged once; at its next ping it is closed instead
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4002


async def test_an_upgrade_on_the_wire_sends_nothing_on_the_websocket_before_the_clients_5(site: Site) -> None:
    """The upgrade as engine.io-client 4 drives it, packet by packet: ``2probe`` -> ``3probe``, the poll
    that waits meanwhile is answered with a noop ``6``, an event committed before the client's ``5`` waits
    for it and then comes on the websocket (once), and polling that session is over."""
    investor = await site.user("investor", "Wire Upgrade")
    session = site.http.session
    polling = f"{site.url}/socket.io/?EIO=4&transport=polling"

    async def request(method: str, query: str = "", body: str = "") -> str:
        async with session.request(method, polling + query, data=body.encode(),
                                   headers={"Content-Type": "text/plain;charset=UTF-8"}) as response:
            text = await response.text()
            assert response.status == 200, text
            return text

    sid = json.loads((await request("GET"))[1:])["sid"]
    assert await request("POST", f"&sid={sid}", '40{"token":"' + investor["token"] + '"}') == "ok"
    assert (await request("GET", f"&sid={sid}")).startswith('40{"sid":"' + sid + '","pid":"')
    waiting = asyncio.create_task(request("GET", f"&sid={sid}"))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    websocket_url = f"{site.url.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket&sid={sid}"
    async with session.ws_connect(websocket_url) as ws:
        await ws.send_str("2probe")
        assert await ws.receive_str(timeout=5) == "3probe"
        assert await asyncio.wait_for(waiting, 5) == "6"  # the client pauses polling on it
        await site.deposit(investor, 77)  # committed while the client has not said 5
        with pytest.raises(TimeoutError):
            await ws.receive_str(timeout=0.5)
        await ws.send_str("5")
        packet = await ws.receive_str(timeout=5)
        assert packet.startswith('42["walletUpdated",')
        data = json.loads(packet[2:])
        assert data[1]["balance"] == 77 and data[2].startswith("u")  # the event, then its offset
        with pytest.raises(TimeoutError):
            await ws.receive_str(timeout=0.3)  # once
        async with session.get(polling + f"&sid={sid}") as response:  # the session left polling
            assert response.status == 400
            assert await response.json() == {"code": 1, "message": "Session ID unknown"}
