"""Every Redis key name, in one place.

All keys of one market carry the market's hash tag (``{main}``), so they hash to one Redis Cluster slot
and every Lua script stays single-slot. Lua scripts that derive keys from ids they read (a seller's
wallet from an invoice's ``sellerId``) use functions generated from ``TEMPLATES`` below, so this module
stays the only place that knows a key's shape. See docs/redis-keys.md for types and fields.
"""

from __future__ import annotations

NAMESPACE = "fin"
# ledger accounts that are no user's: the bank's side, the platform's fees, and each invoice's escrow
EXTERNAL_ACCOUNT = "external"
FEES_ACCOUNT = "platform:fees"
ESCROW_PREFIX = "escrow:"


def escrow_account(invoice_id: str) -> str:
    """The id of the ledger account that holds money waiting for an invoice (bids, claims)."""
    return ESCROW_PREFIX + invoice_id


# name -> suffix after the market prefix; "{id}" is the one variable part
TEMPLATES: dict[str, str] = {
    "user": "user:{id}",
    "users_by_email": "users:by-email",
    "buyers_by_name": "users:buyers-by-name",
    "token": "token:{id}",
    "wallet": "wallet:{id}",
    "wallet_entries": "wallet:{id}:entries",
    "wallets": "wallets",
    "system_accounts": "system-accounts",
    "ledger": "ledger",
    "user_stream": "stream:user:{id}",
    "market_stream": "stream:market",
    "notifications_read": "user:{id}:notifications-read",
    "user_invoices": "user:{id}:invoices",
    "user_investments": "user:{id}:investments",
    "invoice_numbers": "user:{id}:invoice-numbers",
    "stats": "user:{id}:stats",
    "daily": "user:{id}:daily",
    "limits": "user:{id}:limits",
    "exposure": "user:{id}:exposure",
    "invoice": "invoice:{id}",
    "investment": "investment:{id}",
    "bid": "bid:{id}",
    "invoice_bids": "invoice-bids:{id}",
    "invoice_bidders": "invoice-bidders:{id}",
    "bids_by_expiry": "market:bids:by-expiry",
    "invoice_holdings": "invoice-holdings:{id}",
    "fractional_by_deadline": "market:fractional:by-deadline",
    "listed_by_created": "market:listed:by-created",
    "listed_by_amount": "market:listed:by-amount",
    "listed_by_due": "market:listed:by-due",
    "funded_by_due": "market:funded:by-due",
    "overdue_by_due": "market:overdue:by-due",
    "pending_by_deadline": "market:pending-acceptance:by-deadline",
    "idempotency": "idempotency:{id}",
    "attempts_by_email": "auth-attempts:email:{id}",
    "attempts_by_address": "auth-attempts:address:{id}",
    # Socket.IO (streams/socketio): an Engine.IO session (long-polling state any worker can serve), its
    # queue of control packets, and a disconnected socket's recovery record under its pid
    "socketio_session": "socketio:session:{id}",
    "socketio_outbox": "socketio:session:{id}:outbox",
    "socketio_recovery": "socketio:recovery:{id}",
}

# marketplace sort name -> index
SORT_INDEXES = {"newest": "listed_by_created", "amount": "listed_by_amount", "dueDate": "listed_by_due"}


class Keys:
    """Key names of one market."""

    def __init__(self, market: str = "main") -> None:
        if not market or any(c in market for c in "{}: "):
            raise ValueError(f"bad market name {market!r}")
        self.market = market
        self.prefix = f"{NAMESPACE}:{{{market}}}:"
        # name -> (text before the id, text after it), so that building a key is two concatenations
        self._parts = {name: (self.prefix + template).partition("{id}")[::2] for name, template in TEMPLATES.items()}

    def _key(self, name: str, ident: str = "") -> str:
        head, tail = self._parts[name]
        return head + ident + tail

    def user(self, user_id: str) -> str:
        return self._key("user", user_id)

    def users_by_email(self) -> str:
        return self._key("users_by_email")

    def buyers_by_name(self) -> str:
        """The buyer directory: a sorted set of ``<lower-cased display name>\\0<user id>``, read by prefix."""
        return self._key("buyers_by_name")

    def token(self, token_hash: str) -> str:
        return self._key("token", token_hash)

    def wallet(self, account_id: str) -> str:
        return self._key("wallet", account_id)

    def wallet_entries(self, account_id: str) -> str:
        return self._key("wallet_entries", account_id)

    def wallets(self) -> str:
        return self._key("wallets")

    def system_accounts(self) -> str:
        """The ids of the system accounts that have entries (escrows, fees)."""
        return self._key("system_accounts")

    def ledger(self) -> str:
        return self._key("ledger")

    def user_stream(self, user_id: str) -> str:
        return self._key("user_stream", user_id)

    def market_stream(self) -> str:
        return self._key("market_stream")

    def notifications_read(self, user_id: str) -> str:
        return self._key("notifications_read", user_id)

    def user_invoices(self, user_id: str) -> str:
        return self._key("user_invoices", user_id)

    def user_investments(self, user_id: str) -> str:
        return self._key("user_investments", user_id)

    def invoice_numbers(self, seller_id: str) -> str:
        return self._key("invoice_numbers", seller_id)

    def stats(self, user_id: str) -> str:
        return self._key("stats", user_id)

    def daily(self, user_id: str) -> str:
        return self._key("daily", user_id)

    def limits(self, investor_id: str) -> str:
        """The investor's exposure limits: buyer id -> the most outstanding on that buyer, paise."""
        return self._key("limits", investor_id)

    def exposure(self, investor_id: str) -> str:
        """The investor's exposure: buyer id -> claims funded and not yet repaid, plus pending bids."""
        return self._key("exposure", investor_id)

    def invoice(self, invoice_id: str) -> str:
        return self._key("invoice", invoice_id)

    def investment(self, investment_id: str) -> str:
        return self._key("investment", investment_id)

    def bid(self, bid_id: str) -> str:
        return self._key("bid", bid_id)

    def invoice_bids(self, invoice_id: str) -> str:
        """The invoice's pending bids (zset, score the amount)."""
        return self._key("invoice_bids", invoice_id)

    def invoice_bidders(self, invoice_id: str) -> str:
        """Investor id -> their pending bid's id, for the invoice (one pending bid per investor)."""
        return self._key("invoice_bidders", invoice_id)

    def bids_by_expiry(self) -> str:
        """Pending bids with a validUntil, by it (epoch ms), for the aging task."""
        return self._key("bids_by_expiry")

    def invoice_holdings(self, invoice_id: str) -> str:
        """The invoice's investments (list of ids) in participation order: one for a whole invoice, one
        per claim bought for a fractional one. Repayments are split in this order."""
        return self._key("invoice_holdings", invoice_id)

    def fractional_by_deadline(self) -> str:
        """Listed fractional invoices by funding deadline (epoch ms), for the aging task."""
        return self._key("fractional_by_deadline")

    def listed_index(self, sort: str) -> str:
        return self._key(SORT_INDEXES[sort])

    def listed_indexes(self) -> list[str]:
        """by-created, by-amount, by-due: the order the scripts' headers list them in."""
        return [self._key("listed_by_created"), self._key("listed_by_amount"), self._key("listed_by_due")]

    def funded_by_due(self) -> str:
        return self._key("funded_by_due")

    def overdue_by_due(self) -> str:
        return self._key("overdue_by_due")

    def pending_by_deadline(self) -> str:
        """Invoices awaiting their buyer's acceptance, by acceptance deadline (for the aging task)."""
        return self._key("pending_by_deadline")

    def idempotency(self, user_id: str, method: str, path: str, idempotency_key: str) -> str:
        return self._key("idempotency", f"{user_id}:{method}:{path}:{idempotency_key}")

    def no_idempotency(self) -> str:
        """Placeholder passed in KEYS when a request has no Idempotency-Key (never written)."""
        return self._key("idempotency", "-")

    def attempts_by_email(self, email: str) -> str:
        return self._key("attempts_by_email", email)

    def attempts_by_address(self, address: str) -> str:
        return self._key("attempts_by_address", address)

    def socketio_session(self, sid: str) -> str:
        return self._key("socketio_session", sid)

    def socketio_outbox(self, sid: str) -> str:
        return self._key("socketio_outbox", sid)

    def socketio_recovery(self, pid: str) -> str:
        return self._key("socketio_recovery", pid)

    def lua_key_functions(self) -> str:
        """Lua source defining ``KEY.<name>(id)`` for every template, for the scripts' prelude."""
        lines = [
            "local ACCOUNT = {external = " + _lua_string(EXTERNAL_ACCOUNT) + ", fees = " + _lua_string(FEES_ACCOUNT)
            + ", escrow = function(invoice_id) return " + _lua_string(ESCROW_PREFIX) + " .. invoice_id end}",
            "local KEY = {}",
        ]
        for name, template in TEMPLATES.items():
            head, _, tail = (self.prefix + template).partition("{id}")
            if "{id}" in template:
                body = f"return {_lua_string(head)} .. id .. {_lua_string(tail)}"
            else:
                body = f"return {_lua_string(head)}"
            lines.append(f"KEY.{name} = function(id) {body} end")
        return "\n".join(lines) + "\n"


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
