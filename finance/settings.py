"""Settings, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from finance.logs import FORMATS as LOG_FORMATS
from finance.logs import TEXT as LOG_TEXT
from finance.origins import normalise

EMBEDDED = "embedded"
FEE_BPS_MAX = 10_000  # the whole price
BUYER_ACCEPTANCE_MODES = ("off", "required")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from error


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = (env.get(name) or "0").strip().lower()
    if raw not in ("0", "1", "true", "false", "yes", "no"):
        raise ValueError(f"{name} must be 1 or 0, got {raw!r}")
    return raw in ("1", "true", "yes")


def _origins(raw: str) -> tuple[str, ...]:
    """CORS_ORIGINS: comma-separated origins (scheme://host[:port])."""
    return tuple(origin for origin in raw.split(",") if origin.strip())


@dataclass(frozen=True)
class Settings:
    redis_url: str = EMBEDDED
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    market: str = "main"
    user_stream_length_max: int = 1_000
    market_stream_length_max: int = 10_000
    idempotency_ttl_seconds: int = 24 * 3600
    token_ttl_seconds: int = 30 * 24 * 3600
    body_size_max_bytes: int = 64 * 1024
    aging_interval_seconds: int = 60
    default_grace_days: int = 30
    # scrypt cost (N = 2**cost); tests lower it, production keeps the slow default
    password_hash_cost: int = 14
    redis_timeout_seconds: float = 2.0
    websocket_queue_max: int = 1_000
    websocket_ping_interval_seconds: int = 20
    # how often each process checks that the tokens of its open sockets still exist (logout, expiry)
    websocket_session_check_seconds: float = 10.0
    # login and register attempts allowed per window, per email and per client address (0: no cap);
    # counted in Redis, so they hold across workers and hosts
    auth_attempt_window_seconds: int = 300
    auth_attempts_per_email_max: int = 10
    auth_attempts_per_address_max: int = 100
    # the marketplace (docs/api.md): the platform's fee at funding, in basis points of the price;
    # whether a buyer must accept an invoice before it is listed, and for how long it may wait
    platform_fee_bps: int = 0
    buyer_acceptance: str = "off"
    acceptance_window_hours: int = 72
    bids_per_invoice_max: int = 50
    # a fractional invoice is sold in at most this many claims (the last takes the remainder): bounds
    # the work of the scripts that pay or refund every holder
    holders_per_invoice_max: int = 200
    # Redis Cluster (docs/operations.md): REDIS_URL names any node; the market's hash tag is its slot
    redis_cluster: bool = False
    # acknowledged means replicated: each state-changing script waits (WAIT) for this many replicas,
    # at most the timeout, and answers 503 replication_unconfirmed when fewer confirmed in time
    replica_acks: int = 0
    replica_acks_timeout_ms: int = 1_000
    # operating it (docs/operations.md): /metrics asks for this bearer token when set (else loopback
    # clients only); log lines as text or one JSON object each; how long a SIGTERM may take, in all
    log_format: str = LOG_TEXT
    metrics_token: str = ""
    shutdown_timeout_seconds: float = 10.0
    # browser origins other than the app's own that may call the API (CORS) and open sockets
    # (e.g. "http://localhost:3000"); empty: the app's own origin only
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # one form for every comparison: quart-cors compares the browser's Origin header as it is, and the
        # socket check compares the same strings (https://a.example:443 is https://a.example)
        object.__setattr__(self, "cors_origins", tuple(dict.fromkeys(normalise(o) for o in self.cors_origins)))
        if not 0 <= self.platform_fee_bps <= FEE_BPS_MAX:
            raise ValueError(f"PLATFORM_FEE_BPS must be 0..{FEE_BPS_MAX}, got {self.platform_fee_bps}")
        if self.buyer_acceptance not in BUYER_ACCEPTANCE_MODES:
            raise ValueError(f"BUYER_ACCEPTANCE must be off or required, got {self.buyer_acceptance!r}")
        if self.bids_per_invoice_max < 1:
            raise ValueError(f"BIDS_PER_INVOICE_MAX must be at least 1, got {self.bids_per_invoice_max}")
        if not 1 <= self.holders_per_invoice_max <= 1_000:
            raise ValueError(f"HOLDERS_PER_INVOICE_MAX must be 1..1000, got {self.holders_per_invoice_max}")
        if self.acceptance_window_hours < 1:
            raise ValueError(f"ACCEPTANCE_WINDOW_HOURS must be at least 1, got {self.acceptance_window_hours}")
        self._check_replication()

    def _check_replication(self) -> None:
        if self.replica_acks < 0:
            raise ValueError(f"REPLICA_ACKS must be 0 or more, got {self.replica_acks}")
        if self.replica_acks and self.embedded:
            raise ValueError("REPLICA_ACKS needs a real Redis with replicas (REDIS_URL)")
        if self.redis_cluster and self.embedded:
            raise ValueError("REDIS_CLUSTER=1 needs REDIS_URL naming a node of the cluster")
        # the WAIT is answered on a connection with the Redis timeout: it must end before that does
        if not 1 <= self.replica_acks_timeout_ms < self.redis_timeout_seconds * 1000:
            raise ValueError(f"REPLICA_ACKS_TIMEOUT_MS must be 1..{int(self.redis_timeout_seconds * 1000) - 1} "
                             f"(below the Redis timeout), got {self.replica_acks_timeout_ms}")
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"LOG_FORMAT must be text or json, got {self.log_format!r}")
        if not 1 <= self.shutdown_timeout_seconds <= 3_600:
            raise ValueError(f"SHUTDOWN_TIMEOUT_SECONDS must be 1..3600, got {self.shutdown_timeout_seconds}")

    @property
    def acceptance_required(self) -> bool:
        return self.buyer_acceptance == "required"

    @property
    def embedded(self) -> bool:
        return self.redis_url == EMBEDDED

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        redis_url = env.get("REDIS_URL") or EMBEDDED
        embedded = redis_url == EMBEDDED
        return cls(
            redis_url=redis_url,
            host=env.get("HOST", defaults.host),
            port=_int(env, "PORT", defaults.port),
            # the embedded fakeredis lives in one process: more workers would each get their own market
            workers=1 if embedded else max(1, _int(env, "WORKERS", defaults.workers)),
            market=env.get("MARKET", defaults.market),
            user_stream_length_max=_int(env, "USER_STREAM_LENGTH_MAX", defaults.user_stream_length_max),
            market_stream_length_max=_int(env, "MARKET_STREAM_LENGTH_MAX", defaults.market_stream_length_max),
            idempotency_ttl_seconds=_int(env, "IDEMPOTENCY_TTL_SECONDS", defaults.idempotency_ttl_seconds),
            token_ttl_seconds=_int(env, "TOKEN_TTL_SECONDS", defaults.token_ttl_seconds),
            body_size_max_bytes=_int(env, "BODY_SIZE_MAX_BYTES", defaults.body_size_max_bytes),
            aging_interval_seconds=_int(env, "AGING_INTERVAL_SECONDS", defaults.aging_interval_seconds),
            default_grace_days=_int(env, "DEFAULT_GRACE_DAYS", defaults.default_grace_days),
            password_hash_cost=_int(env, "PASSWORD_HASH_COST", defaults.password_hash_cost),
            websocket_queue_max=_int(env, "WEBSOCKET_QUEUE_MAX", defaults.websocket_queue_max),
            websocket_ping_interval_seconds=_int(
                env, "WEBSOCKET_PING_INTERVAL_SECONDS", defaults.websocket_ping_interval_seconds
            ),
            websocket_session_check_seconds=_int(
                env, "WEBSOCKET_SESSION_CHECK_SECONDS", int(defaults.websocket_session_check_seconds)
            ),
            auth_attempt_window_seconds=_int(env, "AUTH_ATTEMPT_WINDOW_SECONDS", defaults.auth_attempt_window_seconds),
            auth_attempts_per_email_max=_int(env, "AUTH_ATTEMPTS_PER_EMAIL_MAX", defaults.auth_attempts_per_email_max),
            auth_attempts_per_address_max=_int(
                env, "AUTH_ATTEMPTS_PER_ADDRESS_MAX", defaults.auth_attempts_per_address_max
            ),
            platform_fee_bps=_int(env, "PLATFORM_FEE_BPS", defaults.platform_fee_bps),
            buyer_acceptance=(env.get("BUYER_ACCEPTANCE") or defaults.buyer_acceptance).strip().lower(),
            acceptance_window_hours=_int(env, "ACCEPTANCE_WINDOW_HOURS", defaults.acceptance_window_hours),
            bids_per_invoice_max=_int(env, "BIDS_PER_INVOICE_MAX", defaults.bids_per_invoice_max),
            holders_per_invoice_max=_int(env, "HOLDERS_PER_INVOICE_MAX", defaults.holders_per_invoice_max),
            redis_cluster=_flag(env, "REDIS_CLUSTER"),
            replica_acks=_int(env, "REPLICA_ACKS", defaults.replica_acks),
            replica_acks_timeout_ms=_int(env, "REPLICA_ACKS_TIMEOUT_MS", defaults.replica_acks_timeout_ms),
            log_format=(env.get("LOG_FORMAT") or defaults.log_format).strip().lower(),
            metrics_token=env.get("METRICS_TOKEN", defaults.metrics_token),
            shutdown_timeout_seconds=_int(env, "SHUTDOWN_TIMEOUT_SECONDS", int(defaults.shutdown_timeout_seconds)),
            cors_origins=_origins(env.get("CORS_ORIGINS", "")),
        )
