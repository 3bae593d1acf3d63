"""Event frames as the load generator sees them, and how an event maps to the request that caused it.

Latency is measured two ways:
  (a) trigger -> receipt: from the time the HTTP request that caused the event was sent (the
      generator knows it for events that name an invoice, and for baseline broadcasts by `seq`);
  (b) commit -> receipt: from the millisecond part of the Redis stream id (Redis' clock, the same
      machine) to receipt; the id is truncated to the millisecond, so (b) reads up to 1 ms high.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

# Trigger kinds: the request whose send time starts the (a) clock.
CREATE = "create"
FUND = "fund"
REPAY = "repay"
CANCEL = "cancel"
BROADCAST = "broadcast"

_STATUS_TRIGGER = {"funded": FUND, "repaid": REPAY, "cancelled": CANCEL}
_EVENT_TRIGGER = {
    "invoiceFunded": FUND,
    "investmentSuccess": FUND,
    "invoiceRepaid": REPAY,
}


class EventData(msgspec.Struct):
    """Only the fields that tie an event to its trigger; others are skipped by the decoder."""

    id: Any = None
    invoiceId: Any = None  # the wire name
    status: Any = None
    seq: Any = None


class Frame(msgspec.Struct):
    type: str
    userId: str | None = None  # the hello's
    stream: str | None = None
    id: str | None = None
    event: str | None = None
    data: EventData | None = None


FRAME_DECODER = msgspec.json.Decoder(Frame)
# a Socket.IO event as it comes, after its "42" prefix: the native baseline's ["broadcast", {the same
# envelope}], or our /socket.io/'s ["<event>", {data}, "<offset>"] (offset: m<market id> or u<user id>)
_SOCKETIO_PARTS = msgspec.json.Decoder(list[msgspec.Raw])
_EVENT_DATA = msgspec.json.Decoder(EventData)
_TEXT = msgspec.json.Decoder(str)


def decode_frame(payload: bytes) -> Frame:
    """A frame of ours, or a Socket.IO event carrying one."""
    if payload[:2] == b"42":
        parts = _SOCKETIO_PARTS.decode(payload[2:])
        if len(parts) == 2:
            return FRAME_DECODER.decode(parts[1])
        offset = _TEXT.decode(parts[2])
        return Frame("event", stream="user" if offset[:1] == "u" else "market", id=offset[1:],
                     event=_TEXT.decode(parts[0]), data=_EVENT_DATA.decode(parts[1]))
    return FRAME_DECODER.decode(payload)


def trigger_of(event: str, data: EventData | None) -> tuple[str, str] | None:
    """(trigger kind, key) of the request that caused this event, or None when unknowable."""
    if data is None:
        return None
    if event == "newInvoiceListed" and data.id is not None:
        return CREATE, str(data.id)
    if event == "invoiceUpdated" and data.id is not None:
        kind = _STATUS_TRIGGER.get(str(data.status))
        return (kind, str(data.id)) if kind else None
    kind = _EVENT_TRIGGER.get(event)
    if kind and data.invoiceId is not None:
        return kind, str(data.invoiceId)
    if data.seq is not None:
        return BROADCAST, str(data.seq)
    return None


def stream_id_ms(stream_id: str) -> int | None:
    """The commit time (ms since the epoch) in a Redis stream id such as "1795485423795-0"."""
    head = stream_id.split("-", 1)[0]
    return int(head) if head.isdigit() else None


@dataclass
class EventReceipts:
    """Every delivery of one stream entry, across all sockets of a client process."""

    stream: str
    event: str
    committed_ms: int | None
    trigger: tuple[str, str] | None
    received_at: list[float] = field(default_factory=list)


@dataclass
class TriggerLog:
    """Send times (time.time()) of the requests that cause events, by kind and key."""

    sent_at: dict[str, dict[str, float]] = field(default_factory=dict)

    def record(self, kind: str, key: str, sent_at: float) -> None:
        self.sent_at.setdefault(kind, {})[key] = sent_at

    def lookup(self, trigger: tuple[str, str] | None) -> float | None:
        if trigger is None:
            return None
        return self.sent_at.get(trigger[0], {}).get(trigger[1])


@dataclass
class LatencySamples:
    trigger_ms: list[float] = field(default_factory=list)
    commit_ms: list[float] = field(default_factory=list)
    trigger_ms_by_event: dict[str, list[float]] = field(default_factory=dict)
    deliveries: int = 0
    without_trigger: int = 0


def latency_samples(receipts: list[EventReceipts], triggers: TriggerLog) -> LatencySamples:
    samples = LatencySamples()
    for receipt in receipts:
        samples.deliveries += len(receipt.received_at)
        if receipt.committed_ms is not None:
            committed_s = receipt.committed_ms / 1000.0
            samples.commit_ms.extend((at - committed_s) * 1000.0 for at in receipt.received_at)
        sent_at = triggers.lookup(receipt.trigger)
        if sent_at is None:
            samples.without_trigger += len(receipt.received_at)
            continue
        values = [(at - sent_at) * 1000.0 for at in receipt.received_at]
        samples.trigger_ms.extend(values)
        samples.trigger_ms_by_event.setdefault(receipt.event, []).extend(values)
    return samples
