"""WebSocket clients spread over child processes, so that the client side of thousands of sockets
does not share one core with itself. Each child holds its sockets, timestamps frames on receipt,
and decodes them only after it is told to stop; the parent gets per-entry receipt times back.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import resource
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec

from loadtest.events import EventReceipts, decode_frame, stream_id_ms, trigger_of
from loadtest.wsproto_client import LeanWebSocket, inflate_messages, open_lean_websocket

CONNECT_ATTEMPTS = 3
HELLO_WAIT_S = 15.0


@dataclass
class ClientProcessConfig:
    urls: list[str]
    connect_concurrency: int
    lifetime_s: float  # a child stops by itself after this, whatever the parent does
    expect_hello: bool
    deflate: bool = False  # offer permessage-deflate, as browsers do
    source_host: str | None = None  # the sockets' source address (127.0.0.x), for more ephemeral ports


@dataclass
class ClientProcessResult:
    sockets: int = 0
    connected: int = 0
    hello: int = 0
    deflate_accepted: int = 0
    connect_errors: dict[str, int] = field(default_factory=dict)
    close_codes: dict[str, int] = field(default_factory=dict)
    frames: int = 0
    undecodable: int = 0
    error_frames: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    market_events_per_socket_min: int | None = None
    market_events_per_socket_max: int | None = None
    receipts: list[EventReceipts] = field(default_factory=list)
    # per socket and stream: (stream, user id, first id, last id, distinct ids): loadtest/gaps.py
    spans: list[tuple[str, str, str, str, int]] = field(default_factory=list)
    cpu_s: float = 0.0
    wall_s: float = 0.0
    max_rss_kb: int = 0


async def _connect(url: str, errors: Counter[str], deflate: bool, source_host: str | None = None
                   ) -> LeanWebSocket | None:
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            return await open_lean_websocket(url, deflate=deflate, source_host=source_host)
        except (OSError, TimeoutError) as exc:
            errors[type(exc).__name__ + (f" {exc}" if isinstance(exc, ConnectionRefusedError) else "")] += 1
            await asyncio.sleep(0.2 * (attempt + 1))
    return None


async def _wait_for(predicate: Any, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls many sockets' state
        await asyncio.sleep(0.05)


async def _child_main(config: ClientProcessConfig, pipe: multiprocessing.connection.Connection, counter: Any) -> None:
    started = time.monotonic()
    errors: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(config.connect_concurrency)

    async def connect_one(url: str) -> LeanWebSocket | None:
        async with semaphore:
            return await _connect(url, errors, config.deflate, config.source_host)

    opened = await asyncio.gather(*(connect_one(url) for url in config.urls))
    sockets = [socket for socket in opened if socket is not None]
    if config.expect_hello:
        await _wait_for(lambda: all(s.messages or s.closed.done() for s in sockets), HELLO_WAIT_S)
    usage_start = resource.getrusage(resource.RUSAGE_SELF)
    window_start = time.monotonic()
    pipe.send(("ready", {"connected": len(sockets), "errors": dict(errors)}))

    deadline = started + config.lifetime_s
    while time.monotonic() < deadline and not pipe.poll(0):
        counter.value = sum(len(s.messages) for s in sockets)
        await asyncio.sleep(0.25)
    usage_end = resource.getrusage(resource.RUSAGE_SELF)
    wall_s = time.monotonic() - window_start
    for socket in sockets:
        socket.close()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2.0):
            await asyncio.gather(*(s.closed for s in sockets))

    result = decode_results(sockets, config.expect_hello)
    result.sockets = len(config.urls)
    result.connect_errors = dict(errors)
    result.cpu_s = (usage_end.ru_utime - usage_start.ru_utime) + (usage_end.ru_stime - usage_start.ru_stime)
    result.wall_s = wall_s
    result.max_rss_kb = usage_end.ru_maxrss
    pipe.send(("result", result))


def decode_results(sockets: list[LeanWebSocket], expect_hello: bool) -> ClientProcessResult:
    """Decode every frame once, after the window; group receipts by stream entry."""
    result = ClientProcessResult(connected=len(sockets))
    entries: dict[tuple[str, str], EventReceipts] = {}
    close_codes: Counter[str] = Counter()
    market_counts: list[int] = []
    for socket in sockets:
        close_codes[str(socket.close_code)] += 1
        last_id: dict[str, tuple[int, int]] = {}
        seen: set[tuple[str, str]] = set()
        market_count = 0
        user_id = ""
        span: dict[str, list[Any]] = {}  # stream -> [first id, last id, count]
        result.deflate_accepted += socket.deflate_accepted
        for index, (received_at, payload) in enumerate(inflate_messages(socket)):
            result.frames += 1
            try:
                frame = decode_frame(payload)
            except msgspec.DecodeError:
                result.undecodable += 1
                continue
            if frame.type == "hello":
                result.hello += 1 if index == 0 else 0
                user_id = frame.userId or ""
                continue
            if frame.type == "error":
                result.error_frames += 1
                continue
            if frame.type != "event" or frame.id is None or frame.stream is None:
                continue
            key = (frame.stream, frame.id)
            if key in seen:
                result.duplicates += 1
                continue
            seen.add(key)
            stream_span = span.get(frame.stream)
            if stream_span is None:
                span[frame.stream] = [frame.id, frame.id, 1]
            else:
                stream_span[1] = frame.id
                stream_span[2] += 1
            order = _id_order(frame.id)
            if order is not None:
                if frame.stream in last_id and order <= last_id[frame.stream]:
                    result.out_of_order += 1
                last_id[frame.stream] = order
            market_count += frame.stream == "market"
            entry = entries.get(key)
            if entry is None:
                entry = EventReceipts(
                    stream=frame.stream,
                    event=frame.event or "",
                    committed_ms=stream_id_ms(frame.id),
                    trigger=trigger_of(frame.event or "", frame.data),
                )
                entries[key] = entry
            entry.received_at.append(received_at)
        market_counts.append(market_count)
        result.spans += [(stream, user_id, first, last, count) for stream, (first, last, count) in span.items()]
        socket.messages = []
    if not expect_hello:
        result.hello = 0
    result.close_codes = dict(close_codes)
    result.receipts = list(entries.values())
    if market_counts:
        result.market_events_per_socket_min = min(market_counts)
        result.market_events_per_socket_max = max(market_counts)
    return result


def _id_order(stream_id: str) -> tuple[int, int] | None:
    head, _, tail = stream_id.partition("-")
    if head.isdigit() and tail.isdigit():
        return int(head), int(tail)
    return None


def _child_entry(config: ClientProcessConfig, pipe: multiprocessing.connection.Connection, counter: Any) -> None:
    try:
        asyncio.run(_child_main(config, pipe, counter))
    except Exception as exc:  # report it to the parent rather than dying silently
        pipe.send(("failed", repr(exc)))


@dataclass
class PoolResult:
    processes: list[ClientProcessResult]

    @property
    def spans(self) -> list[tuple[str, str, str, str, int]]:
        return [span for process in self.processes for span in process.spans]

    @property
    def receipts(self) -> list[EventReceipts]:
        return [receipt for process in self.processes for receipt in process.receipts]

    def totals(self) -> dict[str, Any]:
        def total(name: str) -> int:
            return sum(int(getattr(process, name)) for process in self.processes)

        close_codes: Counter[str] = Counter()
        connect_errors: Counter[str] = Counter()
        for process in self.processes:
            close_codes.update(process.close_codes)
            connect_errors.update(process.connect_errors)
        minimums = [p.market_events_per_socket_min for p in self.processes if p.connected]
        maximums = [p.market_events_per_socket_max for p in self.processes if p.connected]
        cpu_s = sum(process.cpu_s for process in self.processes)
        wall_s = max((process.wall_s for process in self.processes), default=0.0)
        return {
            "processes": len(self.processes),
            "sockets_closed_by_server": {code: count for code, count in close_codes.items()
                                         if code not in ("None", "1000")},
            "sockets": total("sockets"),
            "connected": total("connected"),
            "hello": total("hello"),
            "deflate_accepted": total("deflate_accepted"),
            "connect_errors": dict(connect_errors),
            "close_codes": dict(close_codes),
            "frames": total("frames"),
            "undecodable": total("undecodable"),
            "error_frames": total("error_frames"),
            "duplicates": total("duplicates"),
            "out_of_order": total("out_of_order"),
            "market_events_per_socket_min": min((m for m in minimums if m is not None), default=None),
            "market_events_per_socket_max": max((m for m in maximums if m is not None), default=None),
            "client_cpu_s": round(cpu_s, 2),
            "client_cpu_share_of_one_core": round(cpu_s / wall_s, 3) if wall_s else None,
            "client_max_rss_kb": max((p.max_rss_kb for p in self.processes), default=0),
        }


class WsClientPool:
    """Holds `len(urls)` sockets over `processes` child processes until stop()."""

    def __init__(
        self,
        urls: list[str],
        processes: int,
        connect_concurrency: int = 64,
        lifetime_s: float = 600.0,
        expect_hello: bool = True,
        deflate: bool = False,
        source_hosts: list[str] | None = None,  # one per process, round robin
    ) -> None:
        context = multiprocessing.get_context("spawn")
        processes = max(1, min(processes, len(urls))) if urls else 0
        self._pipes: list[multiprocessing.connection.Connection] = []
        self._counters: list[Any] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        for index in range(processes):
            parent_end, child_end = context.Pipe()
            counter = context.Value("q", 0, lock=False)
            config = ClientProcessConfig(
                urls=urls[index::processes],
                connect_concurrency=connect_concurrency,
                lifetime_s=lifetime_s,
                expect_hello=expect_hello,
                deflate=deflate,
                source_host=source_hosts[index % len(source_hosts)] if source_hosts else None,
            )
            process = context.Process(target=_child_entry, args=(config, child_end, counter), daemon=True)
            self._pipes.append(parent_end)
            self._counters.append(counter)
            self._processes.append(process)
        self.ready_info: list[dict[str, Any]] = []

    async def start(self, timeout_s: float = 120.0) -> dict[str, Any]:
        for process in self._processes:
            process.start()
        self.ready_info = [await self._receive(pipe, "ready", timeout_s) for pipe in self._pipes]
        errors: Counter[str] = Counter()
        for info in self.ready_info:
            errors.update(info["errors"])
        return {"connected": sum(i["connected"] for i in self.ready_info), "errors": dict(errors)}

    def received(self) -> int:
        return sum(int(counter.value) for counter in self._counters)

    async def stop(self, timeout_s: float = 120.0) -> PoolResult:
        for pipe in self._pipes:
            with contextlib.suppress(OSError):
                pipe.send(("stop", None))
        results: list[ClientProcessResult] = []
        try:
            for pipe in self._pipes:
                results.append(await self._receive(pipe, "result", timeout_s))
        finally:
            self.terminate()
        return PoolResult(results)

    def terminate(self) -> None:
        for process in self._processes:
            if process.pid is None:  # never started
                continue
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    @staticmethod
    async def _receive(pipe: multiprocessing.connection.Connection, kind: str, timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if pipe.poll(0):
                try:
                    tag, payload = pipe.recv()
                except EOFError as exc:
                    raise RuntimeError("WebSocket client process exited without a result") from exc
                if tag == "failed":
                    raise RuntimeError(f"WebSocket client process failed: {payload}")
                if tag == kind:
                    return payload
            await asyncio.sleep(0.05)
        raise TimeoutError(f"WebSocket client process sent no {kind!r} within {timeout_s} s")
