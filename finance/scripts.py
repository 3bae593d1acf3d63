"""The one place that speaks Lua: loads lua/*.lua, renders them with the prelude, and calls them.

Each script's header lists its KEYS[i] and ARGV[i], each with the name the script binds it to
right after the header (``-- KEYS[1] invoice_key: invoice hash`` / ``local invoice_key = KEYS[1]``);
the body uses only the names. ``LuaScript.run`` refuses a call with other counts, and tests call
every wrapper to pin that and check each header against its binding block. The wrappers take
keyword arguments only, so two same-typed values cannot be swapped unseen on either side.
Replies are ``{code, json[, 'replayed']}``; a code other than ``ok`` becomes a ``DomainError``
with the matching ``Outcome``.

With ``REPLICA_ACKS=N`` the scripts that change state on the money path (``ACKNOWLEDGED_SCRIPTS``) are
sent with ``WAIT N timeout`` behind them on one connection (WAIT counts the writes of the connection
it is sent on); a success confirmed by fewer than N replicas in time is ``replication_unconfirmed``.
The movement stands on the master and its idempotency record travels with it, so the client's retry
with the same Idempotency-Key answers the first result (a replay writes too: see the prelude's
``idempotent_replay``), and waits for the replicas again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError

from finance import metrics
from finance.clock import Instant
from finance.connection import REDIRECT_ERRORS, UNAVAILABLE_ERRORS, pinned
from finance.keys import EXTERNAL_ACCOUNT, Keys
from finance.outcomes import DomainError, Outcome
from finance.settings import Settings

# the scripts ship as package data of the ``lua`` package (the checkout's lua/ folder)
LUA_PACKAGE = "lua"
# a header line is "-- KEYS[i] name: description"; the name is what the script binds KEYS[i] to
_KEY_LINE = re.compile(r"^-- KEYS\[(\d+)\](.*)$", re.MULTILINE)
_ARG_LINE = re.compile(r"^-- ARGV\[(\d+)\](.*)$", re.MULTILINE)
_NAMED = re.compile(r" ([a-z_][a-z0-9_]*): \S")
# the scripts that move money (or hold or release it): counted by outcome in money_operations_total
MONEY_MOVEMENTS = frozenset({"deposit_funds", "withdraw_funds", "fund_invoice", "buy_claim", "repay_invoice",
                             "cancel_invoice", "place_bid", "withdraw_bid", "accept_bid"})

# the scripts that change state on the money path: with REPLICA_ACKS, each answers only once replicated
ACKNOWLEDGED_SCRIPTS = frozenset({
    "register_user", "deposit_funds", "withdraw_funds", "create_invoice", "accept_invoice", "reject_invoice",
    "cancel_invoice", "fund_invoice", "buy_claim", "repay_invoice", "place_bid", "withdraw_bid", "accept_bid",
})
# the others, and why they do not wait
UNACKNOWLEDGED_SCRIPTS = {
    "count_attempt": "a sign-in rate-limit counter: losing a few counts in a failover is harmless",
    "age_invoices": "the background aging run answers no client; what a failover loses, its next run does again",
    "query_invoices": "reads only",
    "read_invoice": "reads only",
    "list_transactions": "reads only",
    "list_investments": "reads only",
}
# a send that met a moved slot or a script the node had not loaded is sent again, at most this often
ACKNOWLEDGED_ATTEMPTS_MAX = 3


@dataclass(frozen=True)
class ReplicaAcks:
    """REPLICA_ACKS and REPLICA_ACKS_TIMEOUT_MS: how many replicas must confirm, within how long."""

    count: int
    timeout_ms: int


@dataclass(frozen=True)
class Reply:
    """A script's successful reply: its JSON text and whether it was an idempotent replay."""

    json: str
    replayed: bool = False

    def data(self) -> Any:
        return json.loads(self.json)


@dataclass(frozen=True)
class Header:
    """The names a script's header gives its KEYS[1..n] and ARGV[1..m], in order."""

    key_names: tuple[str, ...]
    arg_names: tuple[str, ...]

    @property
    def keys_count(self) -> int:
        return len(self.key_names)

    @property
    def args_count(self) -> int:
        return len(self.arg_names)


def read_header(source: str) -> Header:
    """The KEYS and ARGV a script's header lists: numbered 1..n without gaps, each line naming its
    binding (``-- KEYS[1] invoice_key: invoice hash``)."""
    found = {"KEYS": _KEY_LINE.findall(source), "ARGV": _ARG_LINE.findall(source)}
    names: dict[str, tuple[str, ...]] = {}
    for kind, lines in found.items():
        numbers = [int(number) for number, _ in lines]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(f"header numbering is not 1..n: {numbers}")
        kind_names = []
        for number, (_, rest) in enumerate(lines, start=1):
            match = _NAMED.match(rest)
            if match is None:
                raise ValueError(f"header line {kind}[{number}] does not start with 'name: ' (snake_case)")
            kind_names.append(match.group(1))
        names[kind] = tuple(kind_names)
    return Header(names["KEYS"], names["ARGV"])


@cache
def _sources() -> dict[str, str]:
    """name -> source of every script, and the prelude, read once from the package."""
    folder = resources.files(LUA_PACKAGE)
    found = {item.name.removesuffix(".lua"): item.read_text(encoding="utf-8")
             for item in folder.iterdir() if item.name.endswith(".lua")}
    if not found:
        raise RuntimeError(f"no Lua scripts found in the {LUA_PACKAGE!r} package: the installation is broken")
    found[PRELUDE] = folder.joinpath("lib", "prelude.lua").read_text(encoding="utf-8")
    return found


PRELUDE = "lib/prelude"


def script_source(name: str) -> str:
    return _sources()[name]


def script_names() -> list[str]:
    return sorted(name for name in _sources() if name != PRELUDE)


def render(name: str, keys: Keys) -> str:
    """The source sent to Redis: the key functions, the prelude, then the script."""
    return keys.lua_key_functions() + script_source(PRELUDE) + script_source(name)


class LuaScript:
    def __init__(self, redis: Redis, name: str, keys: Keys, replica_acks: ReplicaAcks | None = None) -> None:
        body = script_source(name)
        self.name = name
        self.header = read_header(body)
        self.source = render(name, keys)
        self.redis = redis
        self.replica_acks = replica_acks
        self._script: AsyncScript = redis.register_script(self.source)
        self.moves_money = name in MONEY_MOVEMENTS

    @property
    def sha(self) -> str:
        return str(self._script.sha)

    async def run(self, keys: list[str], args: list[str | int]) -> Reply:
        if len(keys) != self.header.keys_count or len(args) != self.header.args_count:
            raise TypeError(
                f"{self.name}: header lists {self.header.keys_count} KEYS and {self.header.args_count} "
                f"ARGV, call passed {len(keys)} and {len(args)}"
            )
        with metrics.ScriptCall(self.name, self.moves_money) as call:
            if self.replica_acks is not None:
                reply = await self._run_acknowledged(self.replica_acks, keys, args)
            else:
                reply = parse_reply(await self._script(keys=keys, args=args))
            call.replayed = reply.replayed
        return reply

    async def _run_acknowledged(self, acks: ReplicaAcks, keys: list[str], args: list[str | int]) -> Reply:
        """The script, then WAIT on the same connection; a success fewer replicas confirmed in time is
        ``replication_unconfirmed``. A refusal moved nothing, so it answers as it is."""
        for attempt in range(1, ACKNOWLEDGED_ATTEMPTS_MAX + 1):
            try:
                raw, acknowledged = await self._send_with_wait(acks, keys, args)
                break
            except NoScriptError:  # a node that has not seen the script yet (a new master after a failover)
                await self.redis.script_load(self.source)
            except REDIRECT_ERRORS as error:  # the slot moved (a failover): nothing ran; learn where it went
                if attempt == ACKNOWLEDGED_ATTEMPTS_MAX:
                    raise RedisConnectionError(f"{self.name}: the slot kept moving: {error}") from error
                with contextlib.suppress(*UNAVAILABLE_ERRORS):
                    await self.redis.exists(keys[0])
                await asyncio.sleep(0.01 * attempt)
        else:
            raise RedisConnectionError(f"{self.name}: the script could not be loaded")
        reply = parse_reply(raw)
        if acknowledged < acks.count:
            raise DomainError(
                Outcome.REPLICATION_UNCONFIRMED,
                f"the change was made but only {acknowledged} of {acks.count} replica(s) confirmed it within "
                f"{acks.timeout_ms} ms; retry with the same Idempotency-Key",
                {"acknowledged": acknowledged, "required": acks.count},
            )
        return reply

    async def _send_with_wait(self, acks: ReplicaAcks, keys: list[str], args: list[str | int]) -> tuple[Any, int]:
        async with pinned(self.redis, keys[0]) as connection:
            await connection.send_packed_command(connection.pack_commands([
                ("EVALSHA", self.sha, len(keys), *keys, *args),
                ("WAIT", acks.count, acks.timeout_ms),
            ]))
            raw = await connection.read_response()  # an error reply raises; pinned drops the connection
            acknowledged = int(await connection.read_response())
        return raw, acknowledged


def parse_reply(raw: list[Any]) -> Reply:
    code = _text(raw[0])
    payload = _text(raw[1])
    if code != Outcome.OK:
        details = json.loads(payload)
        message = details.pop("message", code)
        raise DomainError(Outcome(code), message, details)
    return Reply(payload, replayed=len(raw) > 2)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key and the hash of the body it came with, scoped to (user, method, path)."""

    user_id: str
    method: str
    path: str
    key: str
    body_hash: str


class Scripts:
    """Every script of lua/, loaded for one market, each behind a wrapper that builds its KEYS and ARGV.

    Public wrappers take keyword arguments only (a test pins it): a call names every value it passes."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings) -> None:
        self.keys = keys
        self.settings = settings
        acks = ReplicaAcks(settings.replica_acks, settings.replica_acks_timeout_ms) if settings.replica_acks else None
        self.by_name = {name: LuaScript(redis, name, keys, acks if name in ACKNOWLEDGED_SCRIPTS else None)
                        for name in script_names()}

    def _idempotency(self, idempotency: Idempotency | None) -> tuple[str, str]:
        if idempotency is None:
            return self.keys.no_idempotency(), ""
        key = self.keys.idempotency(idempotency.user_id, idempotency.method, idempotency.path, idempotency.key)
        return key, idempotency.body_hash

    async def register_user(self, *, user: dict[str, str], password_hash: str, now: Instant,
                            directory_entry: str = "") -> Reply:
        k = self.keys
        return await self.by_name["register_user"].run(
            [k.users_by_email(), k.user(user["id"]), k.wallet(user["id"]), k.wallets(), k.buyers_by_name()],
            [user["id"], user["email"], user["name"], user["role"], user["company"], user["displayName"],
             password_hash, now.iso, directory_entry],
        )

    async def count_attempt(self, *, email: str, address: str) -> Reply:
        k, s = self.keys, self.settings
        return await self.by_name["count_attempt"].run(
            [k.attempts_by_email(email), k.attempts_by_address(address)],
            [s.auth_attempt_window_seconds * 1000, s.auth_attempts_per_email_max, s.auth_attempts_per_address_max],
        )

    async def _external_move(self, name: str, *, user_id: str, session_key: str, amount: int, now: Instant,
                             idempotency: Idempotency | None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name[name].run(
            [k.wallet(user_id), k.wallet_entries(user_id), k.user_stream(user_id), k.wallet(EXTERNAL_ACCOUNT),
             k.wallet_entries(EXTERNAL_ACCOUNT), k.ledger(), idem_key, session_key],
            [user_id, amount, now.iso, body_hash, s.idempotency_ttl_seconds, s.user_stream_length_max],
        )

    async def deposit_funds(self, *, user_id: str, session_key: str, amount: int, now: Instant,
                            idempotency: Idempotency | None = None) -> Reply:
        return await self._external_move("deposit_funds", user_id=user_id, session_key=session_key, amount=amount,
                                         now=now, idempotency=idempotency)

    async def withdraw_funds(self, *, user_id: str, session_key: str, amount: int, now: Instant,
                             idempotency: Idempotency | None = None) -> Reply:
        return await self._external_move("withdraw_funds", user_id=user_id, session_key=session_key, amount=amount,
                                         now=now, idempotency=idempotency)

    async def create_invoice(self, *, invoice: dict[str, Any], session_key: str, now: Instant,
                             idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        seller_id, buyer_id = invoice["sellerId"], invoice["buyerId"]
        return await self.by_name["create_invoice"].run(
            [k.invoice(invoice["id"]), k.invoice_numbers(seller_id), *k.listed_indexes(),
             k.user_invoices(seller_id), k.user_invoices(buyer_id), k.stats(seller_id), k.stats(buyer_id),
             k.user(buyer_id), k.market_stream(), idem_key, session_key, k.pending_by_deadline(),
             k.user_stream(buyer_id)],
            [invoice["id"], invoice["invoiceNumber"], seller_id, invoice["seller"], buyer_id, invoice["amount"],
             invoice["askAmount"], invoice["dueDate"], invoice["dueAt"], invoice["description"], now.iso,
             now.epoch_ms, now.day, body_hash, s.idempotency_ttl_seconds, s.market_stream_length_max,
             invoice["dueAtMax"], "1" if s.acceptance_required else "0", invoice["acceptByMs"],
             invoice["acceptBy"], s.user_stream_length_max, _opt(invoice.get("minTicket")),
             invoice.get("fundingDeadline") or "", _opt(invoice.get("fundingDeadlineMs"))],
        )

    async def accept_invoice(self, *, invoice_id: str, buyer_id: str, session_key: str, now: Instant,
                             idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["accept_invoice"].run(
            [k.invoice(invoice_id), *k.listed_indexes(), k.pending_by_deadline(), k.market_stream(), idem_key,
             session_key],
            [buyer_id, now.iso, now.epoch_ms, body_hash, s.idempotency_ttl_seconds, s.user_stream_length_max,
             s.market_stream_length_max],
        )

    async def reject_invoice(self, *, invoice_id: str, buyer_id: str, session_key: str, reason: str,
                             now: Instant, idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["reject_invoice"].run(
            [k.invoice(invoice_id), k.pending_by_deadline(), idem_key, session_key],
            [buyer_id, reason, now.iso, now.epoch_ms, body_hash, s.idempotency_ttl_seconds,
             s.user_stream_length_max],
        )

    async def fund_invoice(self, *, invoice_id: str, investor_id: str, session_key: str, investor_name: str,
                           investment_id: str, amount: int, now: Instant,
                           idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["fund_invoice"].run(
            [k.invoice(invoice_id), k.wallet(investor_id), k.wallet_entries(investor_id),
             k.user_stream(investor_id), k.stats(investor_id), k.user_investments(investor_id),
             k.user_invoices(investor_id), *k.listed_indexes(), k.funded_by_due(), k.investment(investment_id),
             k.market_stream(), idem_key, session_key],
            [investor_id, investor_name, investment_id, amount, now.iso, now.epoch_ms, now.day, body_hash,
             s.idempotency_ttl_seconds, s.user_stream_length_max, s.market_stream_length_max, s.platform_fee_bps],
        )

    async def buy_claim(self, *, invoice_id: str, investor_id: str, session_key: str, investment_id: str, claim: int,
                        now: Instant, idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["buy_claim"].run(
            [k.invoice(invoice_id), k.wallet(investor_id), k.wallet_entries(investor_id),
             k.user_stream(investor_id), k.stats(investor_id), k.user_investments(investor_id),
             k.user_invoices(investor_id), *k.listed_indexes(), k.funded_by_due(), k.investment(investment_id),
             k.invoice_holdings(invoice_id), k.market_stream(), idem_key, session_key],
            [investor_id, investment_id, claim, now.iso, now.epoch_ms, now.day, body_hash,
             s.idempotency_ttl_seconds, s.user_stream_length_max, s.market_stream_length_max, s.platform_fee_bps,
             s.holders_per_invoice_max],
        )

    async def repay_invoice(self, *, invoice_id: str, buyer_id: str, session_key: str, now: Instant,
                            amount: int | None = None, idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["repay_invoice"].run(
            [k.invoice(invoice_id), k.wallet(buyer_id), k.wallet_entries(buyer_id), k.user_stream(buyer_id),
             k.stats(buyer_id), k.funded_by_due(), k.overdue_by_due(), k.market_stream(), idem_key,
             session_key],
            [buyer_id, now.iso, now.day, body_hash, s.idempotency_ttl_seconds, s.user_stream_length_max,
             s.market_stream_length_max, _opt(amount)],
        )

    async def cancel_invoice(self, *, invoice_id: str, seller_id: str, session_key: str, now: Instant,
                             idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["cancel_invoice"].run(
            [k.invoice(invoice_id), *k.listed_indexes(), k.market_stream(), idem_key, session_key],
            [seller_id, now.iso, body_hash, s.idempotency_ttl_seconds, s.market_stream_length_max,
             s.user_stream_length_max],
        )

    async def place_bid(self, *, invoice_id: str, investor_id: str, session_key: str, investor_name: str,
                        new_bid_id: str, amount: int, valid_until: str, valid_until_ms: int | None,
                        discount_rate_bps: int, now: Instant, idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["place_bid"].run(
            [k.invoice(invoice_id), k.bid(new_bid_id), k.invoice_bids(invoice_id), k.invoice_bidders(invoice_id),
             k.bids_by_expiry(), k.wallet(investor_id), k.wallet_entries(investor_id), k.user_stream(investor_id),
             idem_key, session_key],
            [investor_id, investor_name, new_bid_id, amount, valid_until, _opt(valid_until_ms), discount_rate_bps,
             now.iso, now.epoch_ms, body_hash, s.idempotency_ttl_seconds, s.user_stream_length_max,
             s.bids_per_invoice_max],
        )

    async def withdraw_bid(self, *, invoice_id: str, investor_id: str, session_key: str, now: Instant,
                           idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["withdraw_bid"].run(
            [k.invoice(invoice_id), k.invoice_bidders(invoice_id), k.wallet(investor_id),
             k.wallet_entries(investor_id), k.user_stream(investor_id), idem_key, session_key],
            [investor_id, now.iso, body_hash, s.idempotency_ttl_seconds, s.user_stream_length_max],
        )

    async def accept_bid(self, *, invoice_id: str, bid_id: str, seller_id: str, session_key: str,
                         investment_id: str, now: Instant, idempotency: Idempotency | None = None) -> Reply:
        k, s = self.keys, self.settings
        idem_key, body_hash = self._idempotency(idempotency)
        return await self.by_name["accept_bid"].run(
            [k.invoice(invoice_id), k.bid(bid_id), *k.listed_indexes(), k.funded_by_due(), k.investment(investment_id),
             k.wallet(seller_id), k.wallet_entries(seller_id), k.user_stream(seller_id), k.market_stream(), idem_key,
             session_key],
            [seller_id, investment_id, now.iso, now.epoch_ms, now.day, body_hash, s.idempotency_ttl_seconds,
             s.user_stream_length_max, s.market_stream_length_max, s.platform_fee_bps],
        )

    async def age_invoices(self, *, now: Instant, batch_max: int = 500) -> Reply:
        k, s = self.keys, self.settings
        grace_ms = s.default_grace_days * 86_400_000
        return await self.by_name["age_invoices"].run(
            [k.funded_by_due(), k.overdue_by_due(), *k.listed_indexes(), k.market_stream(),
             k.pending_by_deadline(), k.bids_by_expiry(), k.fractional_by_deadline()],
            [now.epoch_ms, now.iso, grace_ms, batch_max, s.market_stream_length_max, s.user_stream_length_max],
        )

    async def query_invoices(self, *, index_key: str, query: InvoiceQuery) -> Reply:
        return await self.by_name["query_invoices"].run(
            [index_key],
            [query.order, query.score_min, query.score_max, query.cursor_score, query.cursor_member,
             query.limit, query.scan_max, _opt(query.min_amount), _opt(query.max_amount),
             _opt(query.due_after_ms), _opt(query.due_before_ms), query.seller_id, query.buyer_id, query.status],
        )

    async def read_invoice(self, *, invoice_id: str, caller_id: str) -> Reply:
        return await self.by_name["read_invoice"].run([self.keys.invoice(invoice_id)], [caller_id])

    async def list_transactions(self, *, account_id: str, before: str, limit: int) -> Reply:
        return await self.by_name["list_transactions"].run(
            [self.keys.wallet_entries(account_id)], [before, limit]
        )

    async def list_investments(self, *, investor_id: str, cursor: str, limit: int) -> Reply:
        return await self.by_name["list_investments"].run(
            [self.keys.user_investments(investor_id)], [cursor, limit]
        )


@dataclass(frozen=True)
class InvoiceQuery:
    """One page request over an invoice index; see lua/query_invoices.lua."""

    order: str = "desc"
    score_min: str = "-inf"
    score_max: str = "+inf"
    cursor_score: str = ""
    cursor_member: str = ""
    limit: int = 20
    scan_max: int = 2_000
    min_amount: int | None = None
    max_amount: int | None = None
    due_after_ms: int | None = None
    due_before_ms: int | None = None
    seller_id: str = ""
    buyer_id: str = ""
    status: str = ""


def _opt(value: int | None) -> str | int:
    return "" if value is None else value
