"""The Lua scripts and their wrappers agree on what goes where.

Each script's header lists its KEYS and ARGV as ``-- KEYS[1] invoice_key: invoice hash``; right after
the header the script binds each to that name (``local invoice_key = KEYS[1]``), in the header's order,
and its body uses only the names. Each wrapper passes exactly as many KEYS and ARGV as the header
lists, puts a value it was given where the header names it, and takes keyword arguments only.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fakeredis
import pytest

import lua
from finance.clock import Instant
from finance.keys import Keys
from finance.scripts import (
    PRELUDE,
    Header,
    Idempotency,
    InvoiceQuery,
    LuaScript,
    Reply,
    Scripts,
    read_header,
    script_names,
    script_source,
)
from finance.settings import Settings

NOW = Instant(1_800_000_000_000)
IDEM = Idempotency("usr_1", "POST", "/p", "k", "body-hash")
INVOICE = {"id": "inv_1", "invoiceNumber": "N-1", "sellerId": "usr_s", "seller": "Seller Co", "buyerId": "usr_b",
           "amount": 100, "askAmount": 90, "dueDate": "2027-01-01T00:00:00.000Z", "dueAt": 1,
           "description": "goods", "dueAtMax": 2, "acceptByMs": 3, "acceptBy": "2026-01-04T00:00:00.000Z",
           "minTicket": 22,
           "fundingDeadline": "2026-12-01T00:00:00.000Z", "fundingDeadlineMs": 23}
USER = {"id": "usr_u", "email": "e@example.com", "name": "Name", "role": "seller", "company": "Co",
        "displayName": "Co"}
QUERY = InvoiceQuery(order="asc", score_min="3", score_max="4", cursor_score="5", cursor_member="inv_c", limit=6,
                     scan_max=7, min_amount=8, max_amount=9, due_after_ms=10, due_before_ms=11, seller_id="usr_s",
                     buyer_id="usr_b", status="listed")

# the keyword arguments of one call per wrapper (named as its script); a new script without a call
# here fails test_every_script_has_a_wrapper_call. Values differ, so a swapped pair shows.
CALLS: dict[str, dict[str, Any]] = {
    "register_user": {"user": USER, "password_hash": "scrypt-hash", "now": NOW},
    "deposit_funds": {"user_id": "usr_u", "session_key": "session", "amount": 12, "now": NOW, "idempotency": IDEM},
    "withdraw_funds": {"user_id": "usr_u", "session_key": "session", "amount": 13, "now": NOW, "idempotency": None},
    "create_invoice": {"invoice": INVOICE, "session_key": "session", "now": NOW, "idempotency": IDEM},
    "fund_invoice": {"invoice_id": "inv_1", "investor_id": "usr_i", "session_key": "session",
                     "investor_name": "Investor", "investment_id": "ivt_1", "amount": 14, "now": NOW,
                     "idempotency": IDEM},
    "buy_claim": {"invoice_id": "inv_1", "investor_id": "usr_i", "session_key": "session", "investment_id": "ivt_3",
                  "claim": 21, "now": NOW, "idempotency": IDEM},
    "repay_invoice": {"invoice_id": "inv_1", "buyer_id": "usr_b", "session_key": "session", "now": NOW,
                      "idempotency": IDEM},
    "cancel_invoice": {"invoice_id": "inv_1", "seller_id": "usr_s", "session_key": "session", "now": NOW,
                       "idempotency": IDEM},
    "accept_invoice": {"invoice_id": "inv_1", "buyer_id": "usr_b", "session_key": "session", "now": NOW,
                       "idempotency": IDEM},
    "reject_invoice": {"invoice_id": "inv_1", "buyer_id": "usr_b", "session_key": "session", "reason": "not ours",
                       "now": NOW, "idempotency": IDEM},
    "age_invoices": {"now": NOW, "batch_max": 15},
    "place_bid": {"invoice_id": "inv_1", "investor_id": "usr_i", "session_key": "session", "investor_name": "Investor",
                  "new_bid_id": "bid_1", "amount": 18, "valid_until": "2026-01-02T00:00:00.000Z",
                  "valid_until_ms": 19, "discount_rate_bps": 20, "now": NOW, "idempotency": IDEM},
    "withdraw_bid": {"invoice_id": "inv_1", "investor_id": "usr_i", "session_key": "session", "now": NOW,
                     "idempotency": IDEM},
    "accept_bid": {"invoice_id": "inv_1", "bid_id": "bid_2", "seller_id": "usr_s", "session_key": "session",
                   "investment_id": "ivt_2", "now": NOW, "idempotency": IDEM},
    "query_invoices": {"index_key": "idx", "query": QUERY},
    "read_invoice": {"invoice_id": "inv_1", "caller_id": "usr_c"},
    "list_transactions": {"account_id": "usr_u", "before": "1-0", "limit": 16},
    "list_investments": {"investor_id": "usr_i", "cursor": "1:ivt_0", "limit": 17},
    "count_attempt": {"email": "e@example.com", "address": "127.0.0.1"},
}


def test_every_script_has_a_wrapper_call() -> None:
    assert sorted(CALLS) == script_names()


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def expected_values(kwargs: dict[str, Any]) -> dict[str, Any]:
    """What a KEYS or ARGV of a given header name must be, for the names a call's arguments give away:
    the arguments themselves, the fields of a record or query passed whole, and the clock's forms."""
    found: dict[str, Any] = {}
    for param, value in kwargs.items():
        if isinstance(value, dict):  # a record: its id is <param>_id, its other fields in snake_case
            found.update({f"{param}_id" if field == "id" else _snake(field): v for field, v in value.items()})
        elif isinstance(value, InvoiceQuery):
            found.update(dataclasses.asdict(value))
        elif isinstance(value, Instant):
            found.update(now_iso=value.iso, now_ms=value.epoch_ms, today=value.day)
        elif isinstance(value, Idempotency):
            found["body_hash"] = value.body_hash
        elif isinstance(value, str | int):
            found[param] = value
    return found


# every setting a wrapper passes, each a value no other argument has, so that two swapped show
SETTINGS = Settings(idempotency_ttl_seconds=86_401, user_stream_length_max=1_001, market_stream_length_max=10_002,
                    platform_fee_bps=123, bids_per_invoice_max=47, holders_per_invoice_max=199,
                    auth_attempt_window_seconds=301,
                    auth_attempts_per_email_max=11, auth_attempts_per_address_max=101, default_grace_days=29)
ROLES = ("seller", "buyer", "investor", "user")
# header key name (after the role) -> Keys method of that role's id
ROLE_KEYS = {"wallet": "wallet", "entries": "wallet_entries", "stream": "user_stream", "stats": "stats",
             "invoices": "user_invoices", "investments": "user_investments", "user": "user"}


def expected_settings() -> dict[str, Any]:
    s = SETTINGS
    return {"idempotency_ttl": s.idempotency_ttl_seconds, "user_stream_maxlen": s.user_stream_length_max,
            "market_stream_maxlen": s.market_stream_length_max, "fee_bps": s.platform_fee_bps,
            "bids_max": s.bids_per_invoice_max, "holders_max": s.holders_per_invoice_max,
            "window_ms": s.auth_attempt_window_seconds * 1000,
            "email_attempts_max": s.auth_attempts_per_email_max,
            "address_attempts_max": s.auth_attempts_per_address_max, "grace_ms": s.default_grace_days * 86_400_000}


def expected_keys(values: dict[str, Any]) -> dict[str, str]:
    """What a KEYS of a given header name must be: the market's fixed keys, and the keys of the ids the
    call gives (a role's wallet, stream, stats and lists; the invoice's, the bid's, the investment's)."""
    k = Keys()
    found = {"market_stream_key": k.market_stream(), "funded_by_due_key": k.funded_by_due(),
             "overdue_by_due_key": k.overdue_by_due(), "pending_by_deadline_key": k.pending_by_deadline(),
             "bids_by_expiry_key": k.bids_by_expiry(), "fractional_by_deadline_key": k.fractional_by_deadline(),
             "users_by_email_key": k.users_by_email(),
             "wallets_key": k.wallets(), "ledger_totals_key": k.ledger(),
             "external_wallet_key": k.wallet("external"), "external_entries_key": k.wallet_entries("external")}
    found.update(zip(("listed_by_created_key", "listed_by_amount_key", "listed_by_due_key"), k.listed_indexes(),
                     strict=True))
    for role in ROLES:
        if f"{role}_id" in values:
            for name, method in ROLE_KEYS.items():
                found[f"{role}_{name}_key"] = getattr(k, method)(values[f"{role}_id"])
    if "invoice_id" in values:
        found.update(invoice_key=k.invoice(values["invoice_id"]), bids_key=k.invoice_bids(values["invoice_id"]),
                     holdings_key=k.invoice_holdings(values["invoice_id"]),
                     bidders_key=k.invoice_bidders(values["invoice_id"]))
    if "seller_id" in values:
        found["invoice_numbers_key"] = k.invoice_numbers(values["seller_id"])
    for ident, key in (("bid_id", "bid_key"), ("new_bid_id", "new_bid_key"), ("investment_id", "investment_key")):
        if ident in values:
            found[key] = getattr(k, "bid" if "bid" in ident else "investment")(values[ident])
    return found


def misplaced(header: Header, keys: list[str], args: list[Any], kwargs: dict[str, Any]) -> list[str]:
    """The KEYS and ARGV whose header name says which argument they are, holding something else."""
    expected = expected_values(kwargs) | expected_settings()
    expected |= expected_keys(expected)
    return [f"{header_name}={value!r}"
            for names, values in ((header.key_names, keys), (header.arg_names, args))
            for header_name, value in zip(names, values, strict=True)
            if header_name in expected and value != expected[header_name]]


async def recorded_call(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[LuaScript, list[str], list[Any]]:
    """The KEYS and ARGV the wrapper of script `name` passes for its CALLS entry (nothing runs)."""
    scripts = Scripts(fakeredis.FakeAsyncRedis(), Keys(), SETTINGS)
    script: LuaScript = scripts.by_name[name]
    seen: list[tuple[list[str], list[Any]]] = []

    async def record(keys: list[str], args: list[Any]) -> Reply:
        seen.append((keys, args))
        return Reply("{}")

    monkeypatch.setattr(script, "run", record)
    await getattr(scripts, name)(**CALLS[name])
    [(keys, args)] = seen
    return script, keys, args


@pytest.mark.parametrize("name", script_names())
async def test_wrapper_passes_what_the_header_lists(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    script, keys, args = await recorded_call(name, monkeypatch)
    assert (len(keys), len(args)) == (script.header.keys_count, script.header.args_count)
    assert misplaced(script.header, keys, args, CALLS[name]) == []


async def test_the_named_values_check_sees_a_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    """fund_invoice's investor_id and investor_name are both strings: had the wrapper passed them the
    other way round, the check above would name both."""
    script, keys, args = await recorded_call("fund_invoice", monkeypatch)
    first, second = script.header.arg_names.index("investor_id"), script.header.arg_names.index("investor_name")
    args[first], args[second] = args[second], args[first]
    assert misplaced(script.header, keys, args, CALLS["fund_invoice"]) == [
        "investor_id='Investor'", "investor_name='usr_i'"]


def public_wrappers() -> dict[str, Any]:
    return {name: member for name, member in inspect.getmembers(Scripts, inspect.isfunction)
            if not name.startswith("_")}


def test_every_script_has_a_public_wrapper() -> None:
    assert set(script_names()) <= set(public_wrappers())


@pytest.mark.parametrize("name", sorted(public_wrappers()))
def test_public_wrappers_take_keyword_arguments_only(name: str) -> None:
    """So a call names every value, and two of one type cannot be passed the wrong way round unseen."""
    parameters = list(inspect.signature(public_wrappers()[name]).parameters.values())
    assert parameters[0].name == "self"
    positional = [p.name for p in parameters[1:] if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    assert positional == [], f"Scripts.{name} takes {positional} other than by keyword"


async def test_a_positional_call_is_refused() -> None:
    scripts = Scripts(fakeredis.FakeAsyncRedis(), Keys(), Settings())
    with pytest.raises(TypeError):
        await scripts.read_invoice("inv_1", "usr_c")  # type: ignore[call-arg]


async def test_run_refuses_a_call_that_does_not_match_the_header() -> None:
    script = Scripts(fakeredis.FakeAsyncRedis(), Keys(), Settings()).by_name["read_invoice"]
    with pytest.raises(TypeError, match="header lists 1 KEYS and 1 ARGV"):
        await script.run(["a", "b"], ["x"])


def test_header_numbering_must_be_contiguous() -> None:
    with pytest.raises(ValueError, match=r"1\.\.n"):
        read_header("-- KEYS[1] a: x\n-- KEYS[3] c: y\n")


def test_header_lines_must_name_their_binding() -> None:
    with pytest.raises(ValueError, match=r"KEYS\[2\] does not start with 'name: '"):
        read_header("-- KEYS[1] a: x\n-- KEYS[2] the second key\n")
    header = read_header("-- KEYS[1] a_key: x\n-- ARGV[1] b: y\n-- ARGV[2] c_ms: z\n")
    assert (header.key_names, header.arg_names) == (("a_key",), ("b", "c_ms"))
    assert (header.keys_count, header.args_count) == (1, 2)


# --- the binding block -------------------------------------------------------------------------------

_HEADER_ENTRY = re.compile(r"^-- (KEYS|ARGV)\[(\d+)\] ([a-z_][a-z0-9_]*): \S")
_KEYS_OR_ARGV = re.compile(r"\b(KEYS|ARGV)\b")
_LOCAL = re.compile(r"\blocal\s+(?!function\b)([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)")
_FUNCTION = re.compile(r"\bfunction\b\s*([A-Za-z_][\w.:]*)?\s*\(([^)]*)\)")
_FOR = re.compile(r"\bfor\s+([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)\s*(?:=|\bin\b)")
# what Redis's Lua provides; a binding of one of these names would hide it from the body
_LUA_GLOBALS = frozenset({
    "redis", "cjson", "cmsgpack", "bit", "struct", "string", "table", "math", "os", "tonumber", "tostring",
    "type", "pairs", "ipairs", "next", "unpack", "select", "error", "pcall", "assert", "setmetatable",
    "getmetatable", "rawget", "rawset", "KEYS", "ARGV",
})


def _split(names: str) -> set[str]:
    return {name.strip() for name in names.split(",") if name.strip()}


def declared_names(code: str) -> set[str]:
    """Every name `code` declares: locals, functions and their parameters, loop variables."""
    found: set[str] = set()
    for match in _LOCAL.finditer(code):
        found |= _split(match.group(1))
    for match in _FUNCTION.finditer(code):
        if match.group(1) and not re.search(r"[.:]", match.group(1)):
            found.add(match.group(1))
        found |= _split(match.group(2)) - {"..."}
    for match in _FOR.finditer(code):
        found |= _split(match.group(1))
    return found


def prelude_names() -> frozenset[str]:
    """The locals rendered in front of every script (the KEY table, the prelude's helpers), and Lua's globals."""
    code = Keys().lua_key_functions() + script_source(PRELUDE)
    top_level = re.findall(r"^local\s+(?:function\s+)?([A-Za-z_]\w*)", code, re.MULTILINE)
    return frozenset(top_level) | _LUA_GLOBALS


def binding_problems(source: str, reserved: frozenset[str] = frozenset()) -> list[str]:
    """What breaks the rule in one script's source; [] when it keeps it. The header is the leading run
    of comment lines; then one blank line, the binding block (one line per header entry, in order),
    and a blank line; after that no KEYS or ARGV at all, not even in a comment."""
    lines = source.split("\n")
    end = 0
    while end < len(lines) and lines[end].startswith("--"):
        end += 1
    header, rest = lines[:end], lines[end:]
    problems: list[str] = []
    entries: list[tuple[str, int, str]] = []
    for line in header:
        if not line.startswith(("-- KEYS[", "-- ARGV[")):
            continue
        match = _HEADER_ENTRY.match(line)
        if match is None:
            problems.append(f"header line not of the form '-- KEYS[i] name: description': {line!r}")
        else:
            entries.append((match.group(1), int(match.group(2)), match.group(3)))
    if not entries:
        return [*problems, "the header lists no KEYS or ARGV"]
    if [kind for kind, _, _ in entries] != sorted((kind for kind, _, _ in entries), key=lambda k: k != "KEYS"):
        problems.append("the header lists an ARGV line before a KEYS line")
    for kind in ("KEYS", "ARGV"):
        numbers = [index for k, index, _ in entries if k == kind]
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"the header's {kind} are numbered {numbers}, not 1..n")
    names = [name for _, _, name in entries]
    if twice := sorted({name for name in names if names.count(name) > 1}):
        problems.append(f"the header gives two values one name: {twice}")
    if hidden := sorted(set(names) & reserved):
        problems.append(f"a binding would hide a prelude local or a Lua global: {hidden}")

    if rest[:1] != [""]:
        problems.append("the header is not followed by one blank line and the binding block")
    block = rest[1:1 + len(entries)]
    for offset, (kind, index, name) in enumerate(entries):
        line = block[offset] if offset < len(block) else "<end of file>"
        allowed = [f"local {name} = {kind}[{index}]"]
        if kind == "ARGV":
            allowed.append(f"local {name} = tonumber(ARGV[{index}])")
        if line not in allowed:
            problems.append(f"binding line {offset + 1} is {line!r}, not {' or '.join(map(repr, allowed))}")
    after = rest[1 + len(entries):]
    if after[:1] not in ([], [""]):
        problems.append(f"the binding block is not followed by a blank line: {after[0]!r}")

    first = end + 2 + len(entries)
    for number, line in enumerate(after, start=first):
        if _KEYS_OR_ARGV.search(line):
            problems.append(f"line {number} uses KEYS or ARGV outside the binding block: {line.strip()!r}")
    code = "\n".join(re.sub(r"--.*", "", line) for line in after)
    if again := sorted(set(names) & declared_names(code)):
        problems.append(f"the body declares a binding's name again (shadowing it): {again}")
    if unused := [name for name in names if not re.search(rf"(?<![\w.]){name}\b", code)]:
        problems.append(f"bindings the body never uses: {unused}")
    return problems


def test_every_lua_file_is_checked() -> None:
    """A script added to lua/ is a script of the registry, so the checks below see it."""
    on_disk = sorted(path.stem for path in Path(next(iter(lua.__path__))).glob("*.lua"))
    assert on_disk == script_names()
    assert len(on_disk) >= 13


@pytest.mark.parametrize("name", script_names())
def test_script_binds_its_header_right_after_it(name: str) -> None:
    source = script_source(name)
    assert binding_problems(source, prelude_names()) == []
    header = read_header(source)
    bound = re.findall(r"^local (\w+) = (?:tonumber\()?(?:KEYS|ARGV)\[", source, re.MULTILINE)
    assert tuple(bound) == header.key_names + header.arg_names


GOOD = """-- demo: a script that keeps the rule.
--
-- KEYS[1] wallet_key: a wallet hash
-- KEYS[2] stream_key: an event stream
-- ARGV[1] user_id: a user id
-- ARGV[2] amount: paise
-- Returns: ok

local wallet_key = KEYS[1]
local stream_key = KEYS[2]
local user_id = ARGV[1]
local amount = tonumber(ARGV[2])

redis.call('HINCRBY', wallet_key, 'balance', amount)
redis.call('XADD', stream_key, '*', 'user', user_id)
return ok('{}')
"""


def test_the_check_passes_a_script_that_keeps_the_rule() -> None:
    assert binding_problems(GOOD, prelude_names()) == []
    assert binding_problems(script_source("fund_invoice"), prelude_names()) == []


def _unbound(source: str) -> str:
    """The script as if it had been missed: the header as it is, but no binding block, and KEYS[i] and
    ARGV[i] in the body where the names are."""
    lines = source.split("\n")
    binding = re.compile(r"^local (\w+) = ((?:tonumber\()?(?:KEYS|ARGV)\[\d+\]\)?)$")
    names = {m.group(1): m.group(2) for m in map(binding.match, lines) if m}
    kept = [line for line in lines if not binding.match(line)]
    end = next(i for i, line in enumerate(kept) if not line.startswith("--"))
    body = "\n".join(kept[end:])
    for name, expression in names.items():
        body = re.sub(rf"(?<![\w.]){name}\b", expression, body)
    return "\n".join(kept[:end]) + "\n" + body


BROKEN: dict[str, tuple[Callable[[str], str], str]] = {
    "a script that was missed (no binding block)": (
        _unbound, "binding line 1 is"),
    "a body that still uses KEYS[i]": (
        lambda s: s.replace("redis.call('HINCRBY', wallet_key", "redis.call('HINCRBY', KEYS[1]"),
        "line 14 uses KEYS or ARGV outside the binding block"),
    "a body that reads ARGV in a comment": (
        lambda s: s.replace("return ok('{}')", "return ok('{}') -- ARGV[2] is paise"),
        "uses KEYS or ARGV outside the binding block"),
    "two bindings in the wrong order": (
        lambda s: s.replace("local wallet_key = KEYS[1]\nlocal stream_key = KEYS[2]",
                            "local stream_key = KEYS[2]\nlocal wallet_key = KEYS[1]"),
        "binding line 1 is 'local stream_key = KEYS[2]'"),
    "two names swapped against the header": (
        lambda s: s.replace("local wallet_key = KEYS[1]\nlocal stream_key = KEYS[2]",
                            "local stream_key = KEYS[1]\nlocal wallet_key = KEYS[2]"),
        "binding line 1 is 'local stream_key = KEYS[1]'"),
    "a header line without a name": (
        lambda s: s.replace("-- KEYS[2] stream_key: an event stream", "-- KEYS[2] an event stream"),
        "header line not of the form"),
    "a header name the binding does not use": (
        lambda s: s.replace("-- ARGV[1] user_id: a user id", "-- ARGV[1] user: a user id"),
        "binding line 3 is 'local user_id = ARGV[1]', not 'local user = ARGV[1]'"),
    "code between the header and the binding block": (
        lambda s: s.replace("\n\nlocal wallet_key = KEYS[1]", "\n\nlocal x = 1\nlocal wallet_key = KEYS[1]"),
        "binding line 1 is"),
    "a binding lower down": (
        lambda s: s.replace("local amount = tonumber(ARGV[2])\n\n", "\nlocal amount = tonumber(ARGV[2])\n"),
        "binding line 4 is ''"),
    "a binding line the header does not list": (
        lambda s: s.replace("local amount = tonumber(ARGV[2])\n", "local amount = tonumber(ARGV[2])\n"
                            "local extra = ARGV[3]\n"),
        "the binding block is not followed by a blank line"),
    "a conversion other than tonumber": (
        lambda s: s.replace("local amount = tonumber(ARGV[2])", "local amount = tostring(ARGV[2])"),
        "binding line 4 is"),
    "a body that declares a bound name again": (
        lambda s: s.replace("return ok('{}')", "local amount = 0\nreturn ok('{}')"),
        "declares a binding's name again (shadowing it): ['amount']"),
    "a loop variable of a bound name": (
        lambda s: s.replace("return ok('{}')", "for user_id = 1, 2 do end\nreturn ok('{}')"),
        "shadowing it): ['user_id']"),
    "a binding that hides a prelude helper": (
        lambda s: s.replace("wallet_key", "account"),
        "would hide a prelude local or a Lua global: ['account']"),
    "a binding the body never uses": (
        lambda s: s.replace("redis.call('XADD', stream_key, '*', 'user', user_id)\n", ""),
        "bindings the body never uses: ['stream_key', 'user_id']"),
    "a name given twice": (
        lambda s: s.replace("stream_key", "wallet_key"),
        "the header gives two values one name: ['wallet_key']"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_check_catches(case: str) -> None:
    change, problem = BROKEN[case]
    broken = change(GOOD)
    assert broken != GOOD
    problems = binding_problems(broken, prelude_names())
    assert any(problem in found for found in problems), problems


@pytest.mark.parametrize("name", script_names())
def test_the_check_catches_each_script_as_it_was(name: str) -> None:
    """Every real script, with its binding block taken out and the names put back as KEYS[i]/ARGV[i]."""
    assert binding_problems(_unbound(script_source(name)), prelude_names()) != []


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
