"""Where a recovered socket resumes its two streams, from its last offset and its ring of positions."""

from __future__ import annotations

from streams.socketio.recovery import RING_MAX, Positions, decode_record, offset, parse_offset


def test_offsets_name_their_stream() -> None:
    assert offset("market", "5-0") == "m5-0"
    assert offset("user", "7-1") == "u7-1"
    assert parse_offset("m5-0") == ("m", (5, 0))
    assert parse_offset("u7-1") == ("u", (7, 1))
    for bad in (None, 5, "", "x5-0", "m5", "m-1-0", "u5-0-0"):
        assert parse_offset(bad) is None


def sent() -> Positions:
    """A socket that started at user 10-0, market 100-0, and was sent (in this order): market 101,
    user 11 (market at 101), market 102, market 103, user 12 (market at 103), market 104."""
    positions = Positions((10, 0), (100, 0))
    positions.user_sent((11, 0), (101, 0))
    positions.user_sent((12, 0), (103, 0))
    return positions


def test_resume_after_a_market_offset_takes_the_user_events_sent_before_it() -> None:
    positions = sent()
    assert positions.resume("m101-0") == ((10, 0), (101, 0))
    assert positions.resume("m102-0") == ((11, 0), (102, 0))
    assert positions.resume("m103-0") == ((11, 0), (103, 0))  # user 12 went after market 103
    assert positions.resume("m104-0") == ((12, 0), (104, 0))


def test_resume_after_a_user_offset_takes_the_market_position_recorded_with_it() -> None:
    positions = sent()
    assert positions.resume("u11-0") == ((11, 0), (101, 0))
    assert positions.resume("u12-0") == ((12, 0), (103, 0))
    assert positions.resume("u13-0") is None  # never sent to this socket


def test_nothing_received_or_an_offset_from_before_resumes_at_the_start() -> None:
    positions = sent()
    assert positions.resume(None) == ((10, 0), (100, 0))
    assert positions.resume("m99-0") == ((10, 0), (100, 0))
    assert positions.resume("u9-0") == ((10, 0), (100, 0))
    assert positions.resume("garbage") is None


def test_a_replayed_user_event_recorded_late_takes_its_place() -> None:
    positions = Positions((10, 0), (100, 0))
    positions.user_sent((12, 0), (105, 0))  # live, queued while the replay ran
    positions.user_sent((11, 0), (100, 0))  # replayed
    positions.user_sent((11, 0), (100, 0))  # once
    assert positions.ring == [((11, 0), (100, 0)), ((12, 0), (105, 0))]
    assert positions.resume("m103-0") == ((11, 0), (103, 0))


def test_a_ring_that_overflowed_refuses_what_it_no_longer_reaches() -> None:
    positions = Positions((0, 0), (0, 0))
    for n in range(1, RING_MAX + 6):
        positions.user_sent((n, 0), (n * 10, 0))
    assert positions.dropped
    assert positions.resume("m15-0") is None
    assert positions.resume(f"m{(RING_MAX + 5) * 10 + 1}-0") == ((RING_MAX + 5, 0), ((RING_MAX + 5) * 10 + 1, 0))


def test_a_record_round_trips() -> None:
    positions = sent()
    record = decode_record(positions.encode("user-1", "token-key"))
    assert record is not None
    assert (record.user_id, record.session_key) == ("user-1", "token-key")
    restored = record.positions()
    assert restored is not None
    assert (restored.user_start, restored.market_start, restored.ring) == (
        positions.user_start, positions.market_start, positions.ring)
    assert decode_record(b"not json") is None
    assert decode_record(None) is None
