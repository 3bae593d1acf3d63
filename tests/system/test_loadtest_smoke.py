"""The load generator end to end, for a few seconds, against a real server it cannot fool:
a redis-server and `python app.py` (two workers) started here on free loopback ports.
Pins the product's promises under load: no double funding, a ledger that balances, every
operation exercised, and events delivered to the connected WebSocket clients. Below those, the
measuring instruments themselves: the lean WebSocket client's framing, percentiles, and how an
event is tied to the request that caused it.
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadtest.events import (
    CREATE,
    FUND,
    REPAY,
    EventData,
    EventReceipts,
    TriggerLog,
    latency_samples,
    stream_id_ms,
    trigger_of,
)
from loadtest.servers import PROJECT_ROOT, Managed, start_app, start_redis
from loadtest.stats import percentile
from loadtest.wsproto_client import LeanWebSocket, inflate_messages

LOAD_SECONDS = 4
OPERATIONS = ("register", "deposit", "create", "fund", "repay", "top-up")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Managed, Managed]]:
    tmp_path = tmp_path_factory.mktemp("loadtest-servers")
    redis = start_redis(tmp_path, maxmemory_mb=256)
    try:
        # cheap password hashing: registration speed is not what this test is about
        app = start_app(redis.url, tmp_path, workers=2, extra_env={"PASSWORD_HASH_COST": "4"})
        try:
            yield redis, app
        finally:
            app.stop()
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def load_result(served: tuple[Managed, Managed], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One load run shared by the tests below (it is the expensive part)."""
    redis, app = served
    out = tmp_path_factory.mktemp("loadtest-result") / "result.json"
    command = [
        sys.executable, "-m", "loadtest", "--url", app.url, "--redis-url", redis.url, "--out", str(out),
        "--duration", str(LOAD_SECONDS), "--sellers", "3", "--investors", "6", "--buyers", "3",
        "--ws-clients", "40", "--ws-processes", "1", "--concurrency", "8", "--race", "3",
        "--repay-fraction", "0.5", "--deposit-fraction", "0.5", "--seed", "7", "--quiet",
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=180, check=False)
    report = f"stdout:\n{completed.stdout}\nstderr:\n{completed.stderr}\napp log:\n{app.log_tail()}"
    assert out.exists(), report
    result: dict[str, Any] = json.loads(out.read_text())
    result["_report"] = report
    return result


@pytest.mark.real_redis
def test_load_run_has_no_double_funding_and_a_balanced_ledger(load_result: dict[str, Any]) -> None:
    checks = load_result["checks"]
    assert checks["invoices_raced"] > 0, load_result["_report"]
    assert checks["double_fundings"] == 0, load_result["_report"]
    assert checks["races_without_winner"] == 0, load_result["_report"]
    assert checks["ledger"]["ok"], load_result["_report"]


@pytest.mark.real_redis
def test_load_run_exercises_every_operation_without_errors(load_result: dict[str, Any]) -> None:
    operations = load_result["operations"]
    for name in OPERATIONS:
        assert operations.get(name, {}).get("ok", 0) > 0, (name, load_result["_report"])
    assert load_result["checks"]["http_errors"] == 0, load_result["_report"]
    fund = operations["fund"]
    assert fund["refused"] == fund["count"] - fund["ok"]  # losers of a race get invoice_not_listed only


@pytest.mark.real_redis
def test_load_run_delivers_events_to_websocket_clients(load_result: dict[str, Any]) -> None:
    events = load_result["events"]
    clients = events["clients"]
    assert clients["connected"] == clients["sockets"] == 40, load_result["_report"]
    assert clients["hello"] == clients["connected"], load_result["_report"]
    assert events["deliveries"] > 0, load_result["_report"]
    assert events["trigger_to_receipt"]["count"] > 0, load_result["_report"]
    assert events["commit_to_receipt"]["count"] > 0, load_result["_report"]
    assert clients["duplicates"] == 0 and clients["out_of_order"] == 0, load_result["_report"]
    assert clients["undecodable"] == 0 and clients["error_frames"] == 0, load_result["_report"]
    # every socket's events of each stream checked against the stream: no gap
    gaps = events["gaps"]
    assert gaps["spans_checked"] >= 40 and gaps["spans_with_gap"] == 0, load_result["_report"]
    assert load_result["checks"]["ws_gaps"] == 0, load_result["_report"]


@pytest.mark.real_redis
def test_the_gap_check_finds_a_missing_entry_and_passes_a_whole_span(served: tuple[Managed, Managed]) -> None:
    import redis as redis_client

    from finance.keys import Keys
    from loadtest.gaps import check_spans

    redis, _ = served
    key = Keys("main").user_stream("usr_gapcheck")
    client = redis_client.Redis.from_url(redis.url, decode_responses=True)
    ids = [client.xadd(key, {"event": "e", "data": "{}"}) for _ in range(5)]
    client.close()
    whole = ("user", "usr_gapcheck", ids[1], ids[4], 4)
    missing_one = ("user", "usr_gapcheck", ids[0], ids[4], 4)  # five in the stream between them
    result = check_spans(redis.url, [whole, missing_one])
    assert (result["spans_checked"], result["spans_with_gap"]) == (2, 1)
    assert result["examples"] == [{"stream": "user", "first": ids[0], "last": ids[4], "received": 4,
                                   "in_stream": 5}]


# --- the measuring instruments themselves (no server needed) ----------------------------------------


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def server_frame(payload: bytes, opcode: int = 0x1, final: bool = True, rsv1: bool = False) -> bytes:
    first = (0x80 if final else 0) | (0x40 if rsv1 else 0) | opcode
    if len(payload) < 126:
        return struct.pack("!BB", first, len(payload)) + payload
    if len(payload) < 65536:
        return struct.pack("!BBH", first, 126, len(payload)) + payload
    return struct.pack("!BBQ", first, 127, len(payload)) + payload


def opened_socket(deflate: bool = False) -> tuple[LeanWebSocket, FakeTransport]:
    socket, transport = LeanWebSocket("127.0.0.1:1", "/ws", deflate), FakeTransport()
    socket.connection_made(transport)
    extension = b"sec-websocket-extensions: permessage-deflate; client_max_window_bits=15\r\n" if deflate else b""
    socket.data_received(b"HTTP/1.1 101 \r\nupgrade: WebSocket\r\n" + extension + b"\r\n")
    return socket, transport


async def test_lean_client_reassembles_frames_split_across_reads_of_every_length_form() -> None:
    socket, _ = opened_socket()
    payloads = [b"x" * 5, b"y" * 300, b"z" * 70_000]
    stream = b"".join(server_frame(p) for p in payloads)
    for start in range(0, len(stream), 1000):  # arbitrary TCP read boundaries
        socket.data_received(stream[start : start + 1000])
    assert [payload for _, payload, _ in socket.messages] == payloads


async def test_lean_client_joins_fragments_and_answers_ping_with_a_masked_pong() -> None:
    socket, transport = opened_socket()
    socket.data_received(server_frame(b"hel", final=False) + server_frame(b"lo", opcode=0x0))
    socket.data_received(server_frame(b"are you there", opcode=0x9))
    assert [payload for _, payload, _ in socket.messages] == [b"hello"]
    pong = transport.written[-1]
    assert pong[0] == 0x8A and pong[1] & 0x80  # FIN + pong, masked
    mask, body = pong[2:6], pong[6:]
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == b"are you there"


async def test_lean_client_inflates_permessage_deflate_with_context_takeover() -> None:
    socket, transport = opened_socket(deflate=True)
    assert b"permessage-deflate" in transport.written[0] and socket.deflate_accepted
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    messages = [b'{"type":"hello"}', b'{"type":"event","id":"1-0"}', b'{"type":"event","id":"2-0"}']
    for message in messages:  # the second and third refer back to the first: one shared context
        body = compressor.compress(message) + compressor.flush(zlib.Z_SYNC_FLUSH)
        socket.data_received(server_frame(body[:-4], rsv1=True))
    assert [payload for _, payload in inflate_messages(socket)] == messages


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.9), percentile(values, 0.99)) == (50.0, 90.0, 99.0)
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_events_map_to_the_request_that_caused_them() -> None:
    assert trigger_of("newInvoiceListed", EventData(id="inv_1")) == (CREATE, "inv_1")
    assert trigger_of("invoiceUpdated", EventData(id="inv_1", status="funded")) == (FUND, "inv_1")
    assert trigger_of("invoiceUpdated", EventData(id="inv_1", status="repaid")) == (REPAY, "inv_1")
    assert trigger_of("investmentSuccess", EventData(invoiceId="inv_1")) == (FUND, "inv_1")
    assert trigger_of("invoiceRepaid", EventData(invoiceId="inv_1")) == (REPAY, "inv_1")
    assert trigger_of("walletUpdated", EventData()) is None
    assert stream_id_ms("1795485423795-0") == 1795485423795


def test_latency_runs_from_trigger_and_from_commit_for_every_delivery() -> None:
    triggers = TriggerLog()
    triggers.record(FUND, "inv_1", 1000.000)
    receipt = EventReceipts("market", "invoiceUpdated", 1000_005, (FUND, "inv_1"), [1000.010, 1000.020])
    samples = latency_samples([receipt], triggers)
    assert samples.deliveries == 2
    assert [round(v) for v in samples.trigger_ms] == [10, 20]
    assert [round(v) for v in samples.commit_ms] == [5, 15]


def run_scenario(served: tuple[Managed, Managed], out: Path, scenario: str, seed: int) -> tuple[dict[str, Any], str]:
    """A short run of one scenario (4 flows, races of 4, no sockets) with the ledger check; its JSON
    result and its output (for the assertion messages)."""
    redis, app = served
    command = [
        sys.executable, "-m", "loadtest", "--url", app.url, "--redis-url", redis.url, "--out", str(out),
        "--scenario", scenario, "--duration", "3", "--sellers", "2", "--investors", "6", "--buyers", "2",
        "--ws-clients", "0", "--concurrency", "4", "--race", "4", "--seed", str(seed), "--quiet",
    ]  # fmt: skip
    completed = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert out.exists(), completed.stdout + completed.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    checks = result["checks"]
    assert checks["invoices_raced"] > 0 and checks["double_fundings"] == 0, completed.stdout
    assert checks["ledger"]["ok"] and checks["http_errors"] == 0, completed.stdout
    return result, completed.stdout


@pytest.mark.real_redis
def test_auction_run_has_one_winner_per_invoice_and_a_balanced_ledger(served: tuple[Managed, Managed],
                                                                      tmp_path: Path) -> None:
    """The auction scenario: racers bid, the seller accepts the best while raised bids race in."""
    result, output = run_scenario(served, tmp_path / "auction.json", "auction", 11)
    operations = result["operations"]
    assert operations["accept-bid"]["ok"] > 0 and operations["bid"]["ok"] > 0, output
    assert operations["bid"]["refused"] == operations["bid"]["count"] - operations["bid"]["ok"]


@pytest.mark.real_redis
def test_fractional_run_fills_each_invoice_once_and_balances_the_ledger(served: tuple[Managed, Managed],
                                                                        tmp_path: Path) -> None:
    """The fractional scenario: racers buy a ticket each, then race for the last claim; one fill each."""
    result, output = run_scenario(served, tmp_path / "fractional.json", "fractional", 12)
    checks, operations = result["checks"], result["operations"]
    assert checks["races_without_winner"] == 0, output
    claims = operations["claim"]
    assert claims["ok"] >= 4 * checks["invoices_raced"] - 1 and claims["refused"] > 0, output
    assert operations["repay"]["ok"] > 0, output
