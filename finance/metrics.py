"""The process's metrics, in one place (Prometheus text format, prometheus-client).

The layers call the small functions below, one line each; nothing else imports prometheus_client.
Labels take a small fixed set of values (route templates, script names, outcome codes, stream names):
never a user id, an invoice id or an amount. docs/operations.md lists every metric and what to do
with it.

With WORKERS > 1 the server runs each worker with ``PROMETHEUS_MULTIPROC_DIR`` set (app.py makes and
cleans that folder), so every process writes its figures to files there and ``render`` sums them:
any worker answering ``/metrics`` shows the figures of all of them. The variable must be set before
prometheus_client is imported, which the spawned workers inherit from the master's environment.
"""

from __future__ import annotations

import os
import tempfile
import time
from types import TracebackType
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as _multiprocess

from finance.connection import UNAVAILABLE_ERRORS
from finance.outcomes import DomainError, Outcome

MULTIPROCESS_DIR_VARIABLE: Final = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
# the route label of a request that matched no route (404, 405): never the raw path
UNMATCHED_ROUTE: Final = "unmatched"
NO_CODE: Final = "none"
_FAST_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_HTTP_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_LAG_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds", "Time from a request's start to its response, by method and route template.",
    ["method", "route"], buckets=_HTTP_BUCKETS,
)
MONEY_OPERATIONS = Counter(
    "money_operations_total",
    "Money movements (one Lua script each), by operation and outcome: ok, replayed (an Idempotency-Key "
    "seen before), refused (code: the refusal), redis_unavailable, error.",
    ["operation", "outcome", "code"],
)
SCRIPT_DURATION = Histogram(
    "lua_script_duration_seconds", "Round trip of one Lua script call, by script.", ["script"],
    buckets=_FAST_BUCKETS,
)
SOCKETS_OPEN = Gauge(
    "sockets_open", "Sockets open now, by transport.", ["transport"], multiprocess_mode="livesum",
)
EVENTS_DELIVERED = Counter(
    "socket_events_delivered_total", "Event frames handed to sockets by the fan-out (one per event per socket), "
    "by stream.", ["stream"],
)
SLOW_CONSUMER_CLOSES = Counter(
    "socket_slow_consumer_closes_total", "Sockets closed with 4008 because their send queue overflowed.",
)
DELIVERY_LAG = Histogram(
    "socket_delivery_lag_seconds", "From an event's commit (its stream id's milliseconds, Redis's clock) to the "
    "end of its fan-out in this process (written to every fast-path socket, queued for the others), by stream.",
    ["stream"], buckets=_LAG_BUCKETS,
)
REDIS_ERRORS = Counter(
    "redis_errors_total", "Redis unavailable (connection refused or lost, timeout) as seen by each part.",
    ["component"],
)


class ScriptCall:
    """Times one Lua script call (``with ScriptCall(name, money):``); for a money movement it also counts
    the outcome: ok or replayed (``replayed`` set by the caller), refused with its code, or Redis away."""

    __slots__ = ("money", "name", "replayed", "started")

    def __init__(self, name: str, money: bool) -> None:
        self.name = name
        self.money = money
        self.replayed = False
        self.started = 0.0

    def __enter__(self) -> ScriptCall:
        self.started = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        SCRIPT_DURATION.labels(self.name).observe(time.perf_counter() - self.started)
        if not self.money:
            return
        if error is None:
            outcome, code = ("replayed" if self.replayed else "ok"), NO_CODE
        elif isinstance(error, DomainError):
            outcome, code = "refused", error.outcome.value
        elif isinstance(error, UNAVAILABLE_ERRORS):
            outcome, code = Outcome.REDIS_UNAVAILABLE.value, NO_CODE
        else:
            outcome, code = "error", NO_CODE
        MONEY_OPERATIONS.labels(self.name, outcome, code).inc()


def http_request(method: str, route: str | None, status: int, seconds: float) -> None:
    route = route or UNMATCHED_ROUTE
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def socket_opened(transport: str) -> None:
    SOCKETS_OPEN.labels(transport).inc()


def socket_closed(transport: str) -> None:
    SOCKETS_OPEN.labels(transport).dec()


def fanned_out(stream: str, entry_ms: list[int], sockets: int) -> None:
    """One batch's fan-out is done: ``len(entry_ms)`` events to ``sockets`` sockets each."""
    if sockets:
        EVENTS_DELIVERED.labels(stream).inc(len(entry_ms) * sockets)
    now_ms = time.time() * 1000
    lag = DELIVERY_LAG.labels(stream)
    for ms in entry_ms:
        lag.observe(max(0.0, now_ms - ms) / 1000)


def slow_consumer_closed() -> None:
    SLOW_CONSUMER_CLOSES.inc()


def redis_error(component: str) -> None:
    REDIS_ERRORS.labels(component).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None


def render() -> bytes:
    """The text exposition of this process's figures, or of every worker's (multiprocess mode)."""
    folder = multiprocess_dir()
    if folder is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    _multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_gone(pid: int) -> None:
    """The master's bookkeeping when a worker exits: its live gauges (sockets open) stop counting."""
    folder = multiprocess_dir()
    if folder is not None:
        _multiprocess.mark_process_dead(pid, folder)  # type: ignore[no-untyped-call]


def prepare_multiprocess_dir() -> tuple[str, bool]:
    """For a master about to start workers: the folder every worker writes its figures to, emptied
    (figures of an earlier run would be summed in), and set in the environment the workers inherit.
    An operator's ``PROMETHEUS_MULTIPROC_DIR`` is used when set; else a new temporary folder. Returns
    the folder and whether it was made here (then the master removes it at exit)."""
    folder = multiprocess_dir()
    made = folder is None
    if folder is None:
        folder = tempfile.mkdtemp(prefix="invoice-finance-metrics-")
    else:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))
    os.environ[MULTIPROCESS_DIR_VARIABLE] = folder
    return folder, made
