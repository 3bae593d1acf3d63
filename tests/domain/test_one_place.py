"""Each concept in one place under one name: the stream-id module, the bearer-token parser, the session
cache on the Market."""

from __future__ import annotations

import re

import pytest

from finance.auth import users
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.stream_ids import cursor_order, id_of, order_of, parse_stream_id, stream_cursor
from tests.conftest import Backend
from tests.helpers.servers import ROOT


def test_only_the_stream_id_module_takes_a_stream_id_apart() -> None:
    sources = [ROOT / "app.py", *(ROOT / "finance").rglob("*.py"), *(ROOT / "streams").rglob("*.py")]
    splitting = [str(path.relative_to(ROOT)) for path in sources
                 if re.search(r"""(partition|split)\(["']-["']|["']\(["'] \+|["']0-0["']""", path.read_text())]
    assert splitting == ["finance/stream_ids.py"]


def test_stream_ids_read_and_write_back() -> None:
    assert parse_stream_id("1732412345678-7") == (1732412345678, 7) == order_of("1732412345678-7")
    assert id_of((5, 0)) == "5-0"
    assert parse_stream_id("5") is None and parse_stream_id("٥-0") is None
    assert parse_stream_id(f"{2**64}-0") is None
    assert parse_stream_id(f"{2**64}-0", clamp=True) == (2**64 - 1, 0)
    assert stream_cursor(None) == "" and cursor_order(None) is None
    assert stream_cursor("0-0") == "0-0"
    with pytest.raises(DomainError) as refused:
        cursor_order("yesterday", "since")
    assert refused.value.outcome is Outcome.INVALID_QUERY and "since" in refused.value.message


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"), ("bearer abc", "abc"), ("BEARER  abc ", "abc"), ("Basic abc", ""), ("Bearer", ""),
    ("Bearer ", ""), ("", ""), (None, ""), ("abc", ""),
])
def test_one_bearer_parser(header: str | None, token: str) -> None:
    assert users.bearer_token(header) == token


def test_each_market_has_its_own_session_cache(market: Market) -> None:
    other = Market.create(market.redis, market.settings)
    assert other.sessions is not market.sessions
    assert not hasattr(users, "SESSIONS")


async def test_the_app_starts_and_stops_in_one_lifespan(backend: Backend) -> None:
    """One while_serving generator holds the whole start and stop: the hub runs while the app serves,
    and is stopped (sockets refused, reader gone) when it stops."""
    app = backend.app()
    assert (len(app.before_serving_funcs), len(app.after_serving_funcs), len(app.while_serving_gens)) == (0, 0, 1)
    async with app.test_app():
        hub = app.extensions["hub"]
        assert not hub.closing and hub.reader.stopping is False
    assert hub.closing and hub.reader.stopping


def test_process_tweaks_are_one_call_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from hypercorn.protocol import ws_stream

    from streams import server

    monkeypatch.setattr(server, "_tweaked", False)
    monkeypatch.setattr(ws_stream, "PerMessageDeflate", ws_stream.PerMessageDeflate)  # type: ignore[attr-defined]
    monkeypatch.setattr(server, "_tune_garbage_collector", lambda: None)
    server.apply_process_tweaks()
    assert ws_stream.PerMessageDeflate is server._DeclinedDeflate  # type: ignore[attr-defined]
