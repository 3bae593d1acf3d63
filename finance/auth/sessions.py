"""The per-process cache of recently seen sessions (a token's user), kept on the Market."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from finance.auth.users import User


class SessionCache:
    """Users of recently seen tokens, per process, for the routes whose Lua script checks the session
    again in the same step as the money movement (``caller_refused`` in lua/lib/prelude.lua): those
    routes then cost one Redis round trip, and a revoked token still moves nothing. Every other route
    asks Redis each time."""

    def __init__(self, size_max: int = 50_000) -> None:
        self.size_max = size_max
        self.users: dict[str, User] = {}

    def get(self, session_key: str) -> User | None:
        return self.users.get(session_key)

    def put(self, user: User) -> None:
        if len(self.users) >= self.size_max:
            self.users.pop(next(iter(self.users)))  # oldest first: dicts keep insertion order
        self.users[user.session_key] = user

    def forget(self, session_key: str) -> None:
        self.users.pop(session_key, None)

