"""Users and authentication: register, login, logout, and resolving a bearer token."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from functools import cache

from finance import ids
from finance.market import Market
from finance.outcomes import DomainError, Outcome
from finance.passwords import dummy_hash, hash_password, verify_password


class Role(StrEnum):
    SELLER = "seller"
    INVESTOR = "investor"
    BUYER = "buyer"


EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
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
    def from_hash(cls, fields: dict[str, str]) -> User:
        return cls(
            id=fields["id"],
            name=fields["name"],
            email=fields["email"],
            role=Role(fields["role"]),
            company=fields.get("company", ""),
            display_name=fields.get("displayName") or fields["name"],
            created_at=fields["createdAt"],
        )


@dataclass(frozen=True)
class Session:
    user: User
    token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _clean(value: str, field: str, length_max: int = NAME_LENGTH_MAX) -> str:
    value = value.strip()
    if not value or len(value) > length_max:
        raise DomainError(Outcome.INVALID_FIELD, f"{field} must be 1 to {length_max} characters")
    return value


async def register(market: Market, name: str, email: str, password: str, role: str,
                   company: str | None = None) -> Session:
    try:
        user_role = Role(role)
    except ValueError:
        raise DomainError(Outcome.INVALID_FIELD, "role must be seller, investor or buyer") from None
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 254:
        raise DomainError(Outcome.INVALID_FIELD, "email is not a valid address")
    if not PASSWORD_LENGTH_MIN <= len(password) <= PASSWORD_LENGTH_MAX:
        raise DomainError(
            Outcome.INVALID_FIELD, f"password must be {PASSWORD_LENGTH_MIN} to {PASSWORD_LENGTH_MAX} characters"
        )
    name = _clean(name, "name")
    company = _clean(company, "company") if company else ""
    now = market.clock.now()
    user = User(ids.user_id(), name, email, user_role, company, company or name, now.iso)
    password_hash = await hash_password(password, market.settings.password_hash_cost)
    await market.scripts.register_user(
        {"id": user.id, "email": email, "name": name, "role": user_role.value, "company": company,
         "displayName": user.display_name},
        password_hash,
        now,
    )
    return Session(user, await _issue_token(market, user))


@cache
def _dummy_hash(cost: int) -> str:
    return dummy_hash(cost)


async def login(market: Market, email: str, password: str) -> Session:
    email = email.strip().lower()
    user_id = await market.redis.hget(market.keys.users_by_email(), email)
    fields = await market.redis.hgetall(market.keys.user(user_id)) if user_id else {}
    encoded = fields.get("passwordHash") or _dummy_hash(market.settings.password_hash_cost)
    if not await verify_password(password, encoded) or not fields:
        raise DomainError(Outcome.INVALID_CREDENTIALS, "email or password is wrong")
    user = User.from_hash(fields)
    return Session(user, await _issue_token(market, user))


async def _issue_token(market: Market, user: User) -> str:
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
    return token


async def logout(market: Market, token: str) -> None:
    await market.redis.delete(market.keys.token(_token_hash(token)))


async def authenticate(market: Market, token: str) -> User:
    """The user a bearer token belongs to; ``unauthorized`` for an unknown or revoked token."""
    if not token or len(token) > 200:
        raise DomainError(Outcome.UNAUTHORIZED, "a valid bearer token is required")
    fields: dict[str, str] = await market.redis.hgetall(market.keys.token(_token_hash(token)))
    if not fields:
        raise DomainError(Outcome.UNAUTHORIZED, "the token is unknown, expired or revoked")
    return User.from_hash(fields)


async def get_user_fields(market: Market, user_id: str) -> dict[str, str]:
    fields: dict[str, str] = await market.redis.hgetall(market.keys.user(user_id))
    return fields


def require_role(user: User, *roles: Role) -> None:
    if user.role not in roles:
        names = " or ".join(role.value for role in roles)
        raise DomainError(Outcome.FORBIDDEN, f"this needs the {names} role")
