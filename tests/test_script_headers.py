"""Every Lua wrapper passes exactly as many KEYS and ARGV as its script's header lists."""

from __future__ import annotations

from typing import Any

import fakeredis
import pytest

from finance.clock import Instant
from finance.keys import Keys
from finance.scripts import Idempotency, InvoiceQuery, LuaScript, Reply, Scripts, read_header, script_names
from finance.settings import Settings

NOW = Instant(1_800_000_000_000)
IDEM = Idempotency("usr_1", "POST", "/p", "k", "h")
INVOICE = {"id": "inv_1", "invoiceNumber": "N", "sellerId": "usr_s", "seller": "S", "buyerId": "usr_b",
           "amount": 100, "askAmount": 90, "dueDate": "2027-01-01T00:00:00.000Z", "dueAt": 1, "description": "",
           "dueAtMax": 2}

# one call per wrapper; a new script without a call here fails test_every_script_has_a_wrapper_call
CALLS: dict[str, Any] = {
    "register_user": lambda s: s.register_user(
        {"id": "u", "email": "e", "name": "n", "role": "seller", "company": "", "displayName": "n"}, "h", NOW),
    "deposit_funds": lambda s: s.deposit_funds("u", "session", 1, NOW, IDEM),
    "withdraw_funds": lambda s: s.withdraw_funds("u", "session", 1, NOW, None),
    "create_invoice": lambda s: s.create_invoice(INVOICE, "session", NOW, IDEM),
    "fund_invoice": lambda s: s.fund_invoice("inv_1", "u", "session", "U", "ivt_1", 1, NOW, IDEM),
    "repay_invoice": lambda s: s.repay_invoice("inv_1", "u", "session", NOW, IDEM),
    "cancel_invoice": lambda s: s.cancel_invoice("inv_1", "u", "session", NOW, IDEM),
    "age_invoices": lambda s: s.age_invoices(NOW),
    "query_invoices": lambda s: s.query_invoices("idx", InvoiceQuery()),
    "read_invoice": lambda s: s.read_invoice("inv_1", "u"),
    "list_transactions": lambda s: s.list_transactions("u", "", 10),
    "list_investments": lambda s: s.list_investments("u", "", 10),
    "count_attempt": lambda s: s.count_attempt("e@example.com", "127.0.0.1"),
}


def test_every_script_has_a_wrapper_call() -> None:
    assert sorted(CALLS) == script_names()


@pytest.mark.parametrize("name", script_names())
async def test_wrapper_passes_what_the_header_lists(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scripts = Scripts(fakeredis.FakeAsyncRedis(), Keys(), Settings())
    seen: dict[str, tuple[int, int]] = {}
    script: LuaScript = scripts.by_name[name]

    async def record(keys: list[str], args: list[Any]) -> Reply:
        seen[name] = (len(keys), len(args))
        return Reply("{}")

    monkeypatch.setattr(script, "run", record)
    await CALLS[name](scripts)
    assert seen[name] == (script.header.keys_count, script.header.args_count)


async def test_run_refuses_a_call_that_does_not_match_the_header() -> None:
    script = Scripts(fakeredis.FakeAsyncRedis(), Keys(), Settings()).by_name["read_invoice"]
    with pytest.raises(TypeError, match="header lists 1 KEYS and 1 ARGV"):
        await script.run(["a", "b"], ["x"])


def test_header_numbering_must_be_contiguous() -> None:
    with pytest.raises(ValueError, match=r"1\.\.n"):
        read_header("-- KEYS[1] a\n-- KEYS[3] c\n")


async def test_every_key_a_script_derives_matches_the_key_module() -> None:
    """The Lua KEY.<name>(id) functions and finance/keys.py give the same names."""
    keys = Keys("main")
    redis = fakeredis.FakeAsyncRedis(decode_responses=True)
    source = keys.lua_key_functions() + "return {KEY.wallet('u1'), KEY.user_stream('u1'), KEY.market_stream()}"
    assert await redis.eval(source, 0) == [keys.wallet("u1"), keys.user_stream("u1"), keys.market_stream()]
    assert all(key.startswith("fin:{main}:") for key in [keys.wallet("u1"), keys.ledger(), keys.invoice("i")])


def test_the_registry_refuses_to_start_without_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    """An installation that lost lua/ fails at start-up, not at the first request."""
    import finance.scripts

    finance.scripts._sources.cache_clear()
    monkeypatch.setattr(finance.scripts, "LUA_PACKAGE", "tests")  # a package with no .lua files
    try:
        with pytest.raises(RuntimeError, match="no Lua scripts found"):
            Scripts(fakeredis.FakeAsyncRedis(), Keys(), Settings())
    finally:
        monkeypatch.undo()
        finance.scripts._sources.cache_clear()
    assert "fund_invoice" in script_names()
