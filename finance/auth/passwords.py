"""Password hashing with scrypt (stdlib), deliberately slow; run it off the event loop."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets

_R, _P = 8, 1


def _derive(password: str, salt: bytes, cost: int) -> bytes:
    n = 2**cost
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, maxmem=256 * n * _R, dklen=32)


def hash_password_sync(password: str, cost: int) -> str:
    salt = secrets.token_bytes(16)
    digest = _derive(password, salt, cost)
    return f"scrypt${cost}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password_sync(password: str, encoded: str) -> bool:
    try:
        scheme, cost, salt, digest = encoded.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    actual = _derive(password, base64.b64decode(salt), int(cost))
    return hmac.compare_digest(actual, base64.b64decode(digest))


async def hash_password(password: str, cost: int) -> str:
    return await asyncio.to_thread(hash_password_sync, password, cost)


async def verify_password(password: str, encoded: str) -> bool:
    return await asyncio.to_thread(verify_password_sync, password, encoded)


# a hash to verify against when the email is unknown, so both paths take the same time
def dummy_hash(cost: int) -> str:
    return hash_password_sync(secrets.token_hex(8), cost)
