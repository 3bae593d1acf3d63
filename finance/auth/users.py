"""Users and authentication: register, login, logout, and resolving a bearer token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from finance import ids
from finance.auth import directory
from finance.auth.emails import EMAIL_LENGTH_MAX, normal_email, valid_email
from finance.auth.passwords import dummy_hash, hash_password, verify_password
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.text import strip_spaces


class Role(StrEnum):
    SELLER = "seller"
    INVESTOR = "investor"
    BUYER = "buyer"


PASSWORD_LENGTH_MIN = 8
PASSWORD_LENGTH_MAX = 256
NAME_LENGTH_MAX = 200


@dataclass(frozen=True)
class User:
    id: str
    name: str
    email: str
    role: Role
    company: str
    display_name: str
    created_at: str
    # the Redis key that vouches for this caller inside the money scripts: the hash of the token the
    # request carried, or, for operator commands acting without a token, the user's own hash
    session_key: str = ""

    def public(self) -> dict[str, str | None]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "role": self.role.value,
            "company": self.company or None,
            "createdAt": self.created_at,
        }

    @classmethod
    def from_hash(cls, fields: dict[str, str], session_key: str = "") -> User:
        return cls(
            id=fields["id"],
            name=fields["name"],
            email=fields["email"],
            role=Role(fields["role"]),
            company=fields.get("company", ""),
            display_name=fields.get("displayName") or fields["name"],
            created_at=fields["createdAt"],
            session_key=session_key,
        )


@dataclass(frozen=True)
class Session:
    user: User
    token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean(value: str, field: str, length_max: int = NAME_LENGTH_MAX) -> str:
    """The value without surrounding spaces; the length counts as sent (as the OpenAPI document says)."""
    if len(value) > length_max or not (value := strip_spaces(value)):
        raise DomainError(Outcome.INVALID_FIELD, f"{field} must be 1 to {length_max} characters")
    return value


async def count_attempt(market: Market, email: str, client_address: str | None) -> None:
    """Counts an attempt from a network client; ``too_many_attempts`` once the email or the client
    address has used up its window. Checked before any password is hashed, so refusals are cheap.
    Operator commands (``client_address`` None) are not counted."""
    if client_address is not None:
        await market.scripts.count_attempt(email=email[:EMAIL_LENGTH_MAX], address=client_address)


async def register(market: Market, name: str, email: str, password: str, role: str,
                   company: str | None = None, client_address: str | None = None) -> Session:
    sent, email = email, normal_email(email)
    await count_attempt(market, email, client_address)
    try:
        user_role = Role(role)
    except ValueError:
        raise DomainError(Outcome.INVALID_FIELD, "role must be seller, investor or buyer") from None
    if not valid_email(sent):
        raise DomainError(Outcome.INVALID_FIELD, "email is not a valid address")
    if not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise DomainError(
            Outcome.INVALID_FIELD, f"password must be {PASSWORD_LENGTH_MIN} to {PASSWORD_LENGTH_MAX} characters"
        )
    name = _clean(name, "name")
    if len(company or "") > NAME_LENGTH_MAX:
        raise DomainError(Outcome.INVALID_FIELD, f"company must be at most {NAME_LENGTH_MAX} characters")
    company = strip_spaces(company or "")  # absent, empty or only spaces: no company
    now = market.clock.now()
    new_id = ids.user_id()
    user = User(new_id, name, email, user_role, company, company or name, now.iso, market.keys.user(new_id))
    password_hash = await hash_password(password, market.settings.password_hash_cost)
    await market.scripts.register_user(
        user={"id": user.id, "email": email, "name": name, "role": user_role.value, "company": company,
              "displayName": user.display_name},
        password_hash=password_hash,
        now=now,
        directory_entry=directory.entry(user.display_name, user.id) if user_role is Role.BUYER else "",
    )
    return await _issue_token(market, user)


@cache
def _dummy_hash(cost: int) -> str:
    return dummy_hash(cost)


async def login(market: Market, email: str, password: str, client_address: str | None = None) -> Session:
    email = normal_email(email)
    await count_attempt(market, email, client_address)
    user_id = await market.redis.hget(market.keys.users_by_email(), email)
    fields = await market.redis.hgetall(market.keys.user(user_id)) if user_id else {}
    encoded = fields.get("passwordHash") or _dummy_hash(market.settings.password_hash_cost)
    if not await verify_password(password, encoded) or not fields:
        raise DomainError(Outcome.INVALID_CREDENTIALS, "email or password is wrong")
    return await _issue_token(market, User.from_hash(fields))


async def _issue_token(market: Market, user: User) -> Session:
    """A new opaque token. Redis keeps only its SHA-256, as a hash holding the user's (immutable)
    fields, so authenticating a request is one HGETALL."""
    token = secrets.token_urlsafe(32)
    key = market.keys.token(_token_hash(token))
    async with market.redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping={
            "id": user.id, "name": user.name, "email": user.email, "role": user.role.value,
            "company": user.company, "displayName": user.display_name, "createdAt": user.created_at,
        })
        pipe.expire(key, market.settings.token_ttl_seconds)
        await pipe.execute()
    return Session(replace(user, session_key=key), token)


async def logout(market: Market, token: str) -> None:
    key = market.keys.token(_token_hash(token))
    market.sessions.forget(key)
    await market.redis.delete(key)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ('' for none): HTTP and WebSocket alike."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def authenticate(market: Market, token: str, *, checked_by_script: bool = False) -> User:
    """The user a bearer token belongs to; ``unauthorized`` for an unknown or revoked token.

    ``checked_by_script``: the caller's next step is a money script that verifies the session itself,
    so a cached user will do."""
    if not token or len(token) > 200:
        raise DomainError(Outcome.UNAUTHORIZED, "a valid bearer token is required")
    key = market.keys.token(_token_hash(token))
    if checked_by_script and (cached := market.sessions.get(key)) is not None:
        return cached
    fields: dict[str, str] = await market.redis.hgetall(key)
    if not fields:
        market.sessions.forget(key)
        raise DomainError(Outcome.UNAUTHORIZED, "the token is unknown, expired or revoked")
    user = User.from_hash(fields, key)
    market.sessions.put(user)
    return user



def require_role(user: User, *roles: Role) -> None:
    if user.role not in roles:
        names = " or ".join(role.value for role in roles)
        raise DomainError(Outcome.FORBIDDEN, f"this needs the {names} role")
