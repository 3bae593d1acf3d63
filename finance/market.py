"""The market: everything the domain operations need, built once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from redis.asyncio import Redis

from finance.auth.sessions import SessionCache
from finance.clock import Clock
from finance.keys import Keys
from finance.scripts import Scripts
from finance.settings import Settings


@dataclass
class Market:
    redis: Redis
    keys: Keys
    scripts: Scripts
    clock: Clock
    settings: Settings
    sessions: SessionCache = field(default_factory=SessionCache)

    @classmethod
    def create(cls, redis: Redis, settings: Settings, clock: Clock | None = None) -> Market:
        keys = Keys(settings.market)
        return cls(redis, keys, Scripts(redis, keys, settings), clock or Clock(), settings)
